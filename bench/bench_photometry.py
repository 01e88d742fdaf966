"""Synthetic photometry throughput: the weight-matrix product vs speclite's per-spectrum call.

Prints spectra/s for both on the same spectra and their ratio (run: python bench/bench_photometry.py).
"""
from __future__ import annotations

import argparse
import os
import time

import astropy.units as u
import numpy as np
import speclite.filters

from ojala_core.filters import FILTER_SOURCES
from ojala_core.photometry import PhotometricSystem


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-spectra", type=int, default=10_000)
    parser.add_argument("--n-speclite", type=int, default=200, help="spectra timed through speclite")
    args = parser.parse_args()

    system = PhotometricSystem.from_names(list(FILTER_SOURCES))
    rng = np.random.default_rng(0)
    slopes = rng.uniform(-3, 0, args.n_spectra)
    spectra = 1e-17 * (system.wavelength[None, :] / 5000.0) ** slopes[:, None]

    t0 = time.perf_counter()
    system.ab_magnitudes(spectra)
    t_matrix = time.perf_counter() - t0

    responses = [speclite.filters.FilterResponse(
        wavelength=f.wavelength * u.AA, response=f.response,
        meta=dict(group_name="bench", band_name=f.name.replace("_", ""))) for f in system.filters]
    sequence = speclite.filters.FilterSequence(responses)
    t0 = time.perf_counter()
    for row in spectra[: args.n_speclite]:
        sequence.get_ab_magnitudes(row * u.erg / u.s / u.cm ** 2 / u.AA, system.wavelength * u.AA)
    t_speclite = time.perf_counter() - t0

    rate_matrix = args.n_spectra / t_matrix
    rate_speclite = args.n_speclite / t_speclite
    print(f"bands={len(system.filters)} grid={len(system.wavelength)} threads={os.cpu_count()}")
    print(f"weight matrix : {args.n_spectra} spectra in {t_matrix:.2f} s = {rate_matrix:,.0f} spectra/s")
    print(f"speclite loop : {args.n_speclite} spectra in {t_speclite:.2f} s = {rate_speclite:,.0f} spectra/s")
    print(f"ratio matrix/speclite = {rate_matrix / rate_speclite:.0f}x")


if __name__ == "__main__":
    main()
