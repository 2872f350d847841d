"""Scoring room: metrics (signal, DNSMOS, ASR/WER), the set scorer, RESULTS.md and the paper's numbers.

    metrics.py        per-example signal metrics (SNR family, PESQ variants, STOI, binaural, target absent)
    dnsmos.py         DNSMOS P.835 from the model the speechmos wheel ships (or a given ONNX file)
    asr.py            text normalisation, WER, ASR back ends (registry ASR_BACKENDS)
    scorer.py         one example's metrics, key checks, scoring a set into per_utt.csv / summary.json
    results.py        RESULTS.md of one experiment (paper's layout)
    compare.py        RESULTS.md comparing several systems side by side
    paper_numbers.py  the published numbers
The CLIs (tsepn.bin.score, tsepn.bin.make_results) only parse arguments and call these.
"""
