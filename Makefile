# tsepn: the two commands a new user needs, and a few helpers.
#   make demo   set up tools/venv, run the monaural recipe on the built-in mini corpus
#   make test   set up tools/venv, run the test suite (CPU, minutes)
#   make demo-binaural   the binaural recipe on the mini corpus (synthetic BRIR sets included)
#   make demo-seeds      the monaural demo trained with seeds 0, 1, 2: exp/RESULTS_seeds_proposed.md
#                        (mean and spread over the seeds, and the demo's check: >= 3 dB, >= 3 dB gap)
PYTHON := tools/venv/bin/python
RECIPE := egs/librispeech_wham/mono
BINAURAL_RECIPE := egs/librispeech_wham/binaural
PYTEST_ARGS ?= -q
# OpenMP threads that spin while waiting slow torch down badly on a shared 2-core machine.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: demo demo-binaural demo-seeds test venv bench clean-demo clean-demo-binaural

venv:
	bash tools/setup_venv.sh

demo: venv
	cd $(RECIPE) && ./run.sh

demo-seeds: venv
	cd $(RECIPE) && ./run.sh --stop-stage 3 && for seed in 0 1 2; do \
	  ./run.sh --stage 4 --seed $$seed --seed-check "3 3" || exit 1; done && cat exp/RESULTS_seeds_proposed.md

demo-binaural: venv
	cd $(BINAURAL_RECIPE) && ./run.sh

test: venv
	$(PYTHON) -m pytest $(PYTEST_ARGS) tests

bench: venv
	tools/venv/bin/tsepn-bench render
	tools/venv/bin/tsepn-bench model
	tools/venv/bin/tsepn-bench demo

clean-demo:
	rm -rf $(RECIPE)/corpus $(RECIPE)/data $(RECIPE)/exp

clean-demo-binaural:
	rm -rf $(BINAURAL_RECIPE)/corpus $(BINAURAL_RECIPE)/data $(BINAURAL_RECIPE)/exp
