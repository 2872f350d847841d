#!/usr/bin/env bash
# Monaural target speaker extraction from noisy positive and negative enrollments,
# LibriSpeech + WHAM! noise (or, by default, the built-in synthetic mini corpus).
#
#   ./run.sh                                   # everything: mini corpus, the proposed system
#   ./run.sh --stage 3 --stop-stage 3          # one stage
#   ./run.sh --librispeech-dir /d --wham-dir /d --system proposed_paper \
#            --simulate-config conf/simulate_paper.yaml   # the paper's sizes on the real corpora
#   ./run.sh --help                            # every option and the systems in conf/systems
#
# The stages are egs/TEMPLATE/tse.sh (./tse.sh links to it); this recipe's own files are
# local/data_prep.sh (stage 1) and conf/.
. ./tse.sh
paper_rows="proposed=proposed proposed_paper=proposed improved_paper=improved nmf=nmf nmf_paper=nmf usef_tfgridnet=usef_tfgridnet usef_tfgridnet_paper=usef_tfgridnet"
tse_main "$@"
