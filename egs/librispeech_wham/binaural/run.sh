#!/usr/bin/env bash
# Binaural target speaker extraction from noisy positive and negative enrollments:
# LibriSpeech + WHAM! noise spatialised with binaural room impulse responses, 2 channels in
# and out (or, by default, the built-in synthetic mini corpus).
#
#   ./run.sh                                   # everything: mini corpus, the proposed system
#   ./run.sh --stage 3 --stop-stage 3          # one stage
#   ./run.sh --help                            # every option and the systems in conf/systems
#
# The stages are egs/TEMPLATE/tse.sh (./tse.sh links to it), the same as the monaural
# recipe's; what is binaural lives in conf/ (simulate.yaml places the sources with BRIRs;
# systems/ holds the 2-channel models) and local/.
. ./tse.sh
tse_main "$@"
