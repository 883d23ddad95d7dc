"""Audio conversions that are not wire codecs: resampling and downmixing (`resampling`) and WAV files
on disk (`wav_files`). The wire codecs (μ-law, L16, WAV headers) are sans-I/O, in `protocol/`."""
