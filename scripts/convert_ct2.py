"""Convert a CTranslate2 (faster-whisper) Whisper model into an openai-whisper checkpoint, by hand.

The server does this itself, once, for `--whisper-backend openai`; this command is for other tools
that want a `.pt` checkpoint (`whisper.load_model(path)`):

    .venv/bin/python scripts/convert_ct2.py tiny.en out.pt
    .venv/bin/python scripts/convert_ct2.py /path/to/ctranslate2-model out.pt
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audiohook_server.speech.ct2_checkpoint import convert
from audiohook_server.speech.model_files import ModelNotFoundError, resolve_whisper_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/convert_ct2.py",
        description="Convert a CTranslate2 (faster-whisper) Whisper model into an openai-whisper checkpoint.",
    )
    parser.add_argument("src", help="CTranslate2 Whisper model directory, or a model name: tiny.en, base")
    parser.add_argument("out", type=Path, help="the .pt checkpoint to write (whisper.load_model(path) loads it)")
    parser.add_argument("--model-cache-dir", type=Path, default=None, help="where `base` is assembled")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    src = Path(args.src).expanduser()
    try:
        if not src.exists():
            src = resolve_whisper_model(args.src, args.model_cache_dir)
        convert(src, args.out)
    except ModelNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
