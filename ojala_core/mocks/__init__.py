"""Mock builder: DESI-format spectra and VACs → synthetic J-PAS training set, Test-Synth and Test-Real."""
