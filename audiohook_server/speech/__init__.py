"""The speech pipeline: VAD, utterance segmentation, streaming partials and Whisper finals."""
