"""Audio in and out: thin wrappers over soundfile, ffmpeg, soxr, pyloudnorm and scipy.

``decode`` (probe, chunked decoding, the one whole-file reader), ``resample`` (the one
resampler), ``encode`` (the one WAV encoder), ``loudness`` (LUFS, dB, DC removal, loudness
matching), ``true_peak`` (true peak and the look-ahead limiter).
"""
