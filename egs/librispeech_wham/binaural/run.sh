#!/usr/bin/env bash
# Binaural target speaker extraction from noisy positive and negative enrollments:
# LibriSpeech + WHAM! noise spatialised with binaural room impulse responses, 2 channels in
# and out (or, by default, the built-in synthetic mini corpus).
#
#   ./run.sh                                   # everything: mini corpus, the proposed system
#   ./run.sh --stage 3 --stop-stage 3          # one stage
#   ./run.sh --librispeech-dir /d --wham-dir /d --brir-dir /d/brirs   # the real corpora and BRIR sets
#   ./run.sh --help                            # every option and the systems in conf/systems
#
# The stages are egs/TEMPLATE/tse.sh (./tse.sh links to it), the same as the monaural
# recipe's; what is binaural lives in conf/ (simulate.yaml places the sources with BRIRs;
# systems/ holds the 2-channel models) and local/.
. ./tse.sh
export brir_dir=""          # folder holding CIPIC/ RRBRIR/ ASH-Listening-Set-8.0/ CATT_RIRs/ (stage 1;
                            # tools/download_brirs.sh); empty: brirs/ beside LibriSpeech/ (mini corpus)
recipe_help="  --brir-dir DIR             the BRIR sets CIPIC/ RRBRIR/ ASH-Listening-Set-8.0/ CATT_RIRs/
                             (tools/download_brirs.sh); default: brirs/ of the mini corpus"
paper_rows=""               # PAPER.md has no binaural figures to show beside the results
tse_main "$@"
