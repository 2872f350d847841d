"""tsepn.scoring.metrics signal metrics against closed forms and independent packages."""
import warnings

import fast_bss_eval
import numpy as np
import pesq
import pytest
from pystoi import stoi as pystoi_stoi

from tsepn.scoring import metrics

SR = 16000


def speechlike(seconds=1.0, seed=0):
    """Low-passed noise with a syllable-rate envelope: coloured and non-stationary like speech."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    carrier = np.convolve(rng.standard_normal(n), np.hanning(24), mode="same")
    return 0.1 * carrier * (0.2 + np.sin(2 * np.pi * 3.0 * t) ** 2)


def with_noise_at(ref, snr_db, seed=1):
    """ref + white noise scaled so that |ref|^2 / |noise|^2 is exactly snr_db."""
    noise = np.random.default_rng(seed).standard_normal(ref.shape)
    noise *= np.sqrt(np.sum(ref**2) / (np.sum(noise**2) * 10 ** (snr_db / 10)))
    return ref + noise, noise


@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 7.5, 20.0])
def test_snr_on_known_noise_realisation(snr_db):
    ref = speechlike()
    est, _ = with_noise_at(ref, snr_db)
    assert metrics.snr(est, ref) == pytest.approx(snr_db, abs=1e-3)


def test_si_sdr_of_scaled_copy_is_very_high_and_snr_is_not():
    ref = speechlike()
    assert metrics.si_sdr(3.0 * ref, ref) > 100.0
    assert metrics.si_sdr(-0.5 * ref, ref) > 100.0  # a scaled copy, sign included
    assert metrics.snr(3.0 * ref, ref) == pytest.approx(10 * np.log10(1 / 4), abs=1e-6)  # error = 2 ref


def test_si_sdr_closed_form_on_orthogonal_noise():
    # est = ref + n with n orthogonal to zero-mean ref: SI-SDR = 10 log10(|ref|^2/|n|^2) exactly
    ref = speechlike()
    ref -= ref.mean()
    noise = np.random.default_rng(3).standard_normal(ref.shape)
    noise -= noise.mean()
    noise -= np.dot(noise, ref) / np.dot(ref, ref) * ref
    noise *= np.sqrt(np.sum(ref**2) / np.sum(noise**2) / 10 ** (5.0 / 10))
    assert metrics.si_sdr(ref + noise, ref) == pytest.approx(5.0, abs=1e-6)


def test_si_sdr_and_si_snr_match_fast_bss_eval():
    ref = speechlike(seed=4)
    est, _ = with_noise_at(np.convolve(ref, [0.8, 0.3], mode="same") + 0.01, 3.0, seed=5)
    expected = float(fast_bss_eval.si_sdr(ref[None], est[None], zero_mean=True)[0])
    assert metrics.si_sdr(est, ref) == pytest.approx(expected, abs=1e-3)
    assert metrics.si_snr(est, ref) == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("zero_mean", [True, False])
def test_sdr_matches_fast_bss_eval(zero_mean):
    ref = speechlike(seed=6)
    est, _ = with_noise_at(np.convolve(ref, [0.7, 0.2, -0.1], mode="same") + 0.003, 8.0, seed=7)
    expected = float(fast_bss_eval.sdr(ref[None], est[None], filter_length=512, zero_mean=zero_mean)[0])
    assert metrics.sdr(est, ref, zero_mean=zero_mean) == pytest.approx(expected, abs=1e-3)


def test_sdr_matches_mir_eval_bss_eval_sources():
    mir_eval = pytest.importorskip("mir_eval")  # installed by tools/setup_venv.sh
    ref = speechlike(seconds=0.5, seed=8)
    est, _ = with_noise_at(np.convolve(ref, [1.0, -0.4], mode="same"), 4.0, seed=9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # bss_eval_sources is deprecated in 0.8
        expected = float(mir_eval.separation.bss_eval_sources(ref[None], est[None])[0][0])
    assert metrics.sdr(est, ref, zero_mean=False) == pytest.approx(expected, abs=1e-3)


def test_sdr_forgives_a_short_filter_that_snr_punishes():
    ref = speechlike(seed=10)
    est = np.convolve(ref, [0.2] + [0.0] * 7 + [0.9])[: len(ref)]  # a 9-tap echo: pure linear distortion
    assert metrics.sdr(est, ref) > 40.0
    assert metrics.snr(est, ref) < 5.0 and metrics.si_sdr(est, ref) < 5.0


def test_multichannel_is_the_channel_average():
    a, b = speechlike(seed=11), speechlike(seed=12)
    est_a, _ = with_noise_at(a, 2.0, seed=13)
    est_b, _ = with_noise_at(b, 10.0, seed=14)
    est, ref = np.stack([est_a, est_b]), np.stack([a, b])
    assert metrics.snr(est, ref) == pytest.approx(6.0, abs=1e-3)
    for fn in (metrics.si_sdr, metrics.sdr):
        assert fn(est, ref) == pytest.approx((fn(est_a, a) + fn(est_b, b)) / 2, abs=1e-9)


def test_silent_reference_is_undefined_not_nan():
    silent = np.zeros(SR)
    est = speechlike()
    for fn in (metrics.snr, metrics.si_snr, metrics.si_sdr, metrics.sdr):
        assert fn(est, silent) is None
    assert metrics.pesq_wb(est, silent, SR) is None
    assert metrics.stoi(est, silent, SR) is None
    # a silent estimate: plain SNR is defined (0 dB), scale-invariant ones are not
    assert metrics.snr(silent, est) == pytest.approx(0.0, abs=1e-9)
    assert metrics.si_sdr(silent, est) is None


def test_shape_mismatch_is_an_error():
    with pytest.raises(metrics.MetricError, match="differ in shape"):
        metrics.snr(np.zeros((2, 100)), np.ones((1, 100)))


def test_pesq_and_stoi_match_the_packages_called_directly():
    ref = speechlike(seconds=1.5, seed=15)
    est, _ = with_noise_at(ref, 5.0, seed=16)
    assert metrics.pesq_wb(est, ref, SR) == pytest.approx(pesq.pesq(SR, ref, est, "wb"), abs=1e-6)
    assert metrics.stoi(est, ref, SR) == pytest.approx(pystoi_stoi(ref, est, SR, extended=False), abs=1e-9)
    assert metrics.estoi(est, ref, SR) == pytest.approx(pystoi_stoi(ref, est, SR, extended=True), abs=1e-9)


def test_narrow_band_pesq_and_the_papers_raw_variant():
    """pesq_nb is the package's narrow-band MOS-LQO; pesq_nb_raw is the raw P.862 score (pypesq's
    number, the paper's PESQ), recovered exactly through the closed-form P.862.1 mapping (pypesq
    itself does not build here, so the mapping is the check)."""
    ref = speechlike(seconds=2.0, seed=21)
    for snr_db in (0.0, 10.0, 30.0):
        est, _ = with_noise_at(ref, snr_db, seed=22)
        mos = metrics.pesq_nb(est, ref, SR)
        assert mos == pytest.approx(pesq.pesq(SR, ref, est, "nb"), abs=1e-6)
        raw = metrics.pesq_nb_raw(est, ref, SR)
        assert metrics.mos_lqo_from_raw(raw) == pytest.approx(mos, abs=1e-9)
        assert 0.999 + 4.0 / (1.0 + np.exp(-1.4945 * raw + 4.6607)) == pytest.approx(mos, abs=1e-9)
    # the mapping is monotonic and the inverse exact across the range
    raws = np.linspace(-0.5, 4.5, 11)
    assert np.all(np.diff([metrics.mos_lqo_from_raw(r) for r in raws]) > 0)
    assert [metrics.raw_from_mos_lqo(metrics.mos_lqo_from_raw(r)) for r in raws] == pytest.approx(list(raws), abs=1e-9)
    with pytest.raises(metrics.MetricError, match="outside the P.862.1 range"):
        metrics.raw_from_mos_lqo(5.2)
    # 8-kHz audio is scored at 8 kHz, narrow band
    ref8 = ref[::2]
    est8, _ = with_noise_at(ref8, 10.0, seed=23)
    assert metrics.pesq_nb(est8, ref8, 8000) == pytest.approx(pesq.pesq(8000, ref8, est8, "nb"), abs=1e-6)


def test_output_energy_relative_to_the_mixture():
    mix = speechlike(seconds=1.0, seed=31)
    assert metrics.out_energy_rel_db(mix, mix) == pytest.approx(0.0, abs=1e-9)
    assert metrics.out_energy_rel_db(0.1 * mix, mix) == pytest.approx(-20.0, abs=1e-9)
    assert metrics.out_energy_rel_db(np.zeros_like(mix), mix) < -100.0  # silence: large and finite
    assert metrics.out_energy_rel_db(mix, np.zeros_like(mix)) is None
    two = np.stack([mix, 0.5 * mix])
    assert metrics.out_energy_rel_db(0.5 * two, two) == pytest.approx(20 * np.log10(0.5), abs=1e-9)


def test_pesq_failure_raises_for_the_caller_to_record():
    short = speechlike(seconds=0.2)
    with pytest.raises(pesq.PesqError):
        metrics.pesq_wb(short, short, SR)


# --------------------------------------------------------------------------- binaural


def binaural(delay_samples, level_db, seed=17, seconds=0.5):
    """Right ear = left ear delayed by `delay_samples` and attenuated by `level_db`."""
    left = speechlike(seconds=seconds, seed=seed)
    right = np.roll(left, delay_samples) * 10 ** (-level_db / 20)
    right[:max(delay_samples, 0)] = 0.0
    return np.stack([left, right])


def test_itd_and_ild_of_a_known_delay_and_level():
    audio = binaural(delay_samples=8, level_db=6.0)
    # right lags left by 8 samples -> left leads -> negative ITD in our convention
    assert metrics.interaural_time_difference(audio, SR) == pytest.approx(-8 / SR * 1e6)
    assert metrics.interaural_level_difference(audio) == pytest.approx(6.0, abs=0.1)


def test_itd_search_is_limited_to_one_millisecond():
    audio = binaural(delay_samples=40, level_db=0.0)  # 2.5 ms: outside the +-1 ms window
    assert abs(metrics.interaural_time_difference(audio, SR)) <= 1000.0


def test_itd_and_ild_errors_between_two_renderings():
    ref = binaural(delay_samples=4, level_db=3.0)
    est = binaural(delay_samples=10, level_db=5.0)
    assert metrics.itd_error_us(est, ref, SR) == pytest.approx(6 / SR * 1e6)
    assert metrics.ild_error_db(est, ref) == pytest.approx(2.0, abs=0.1)
    assert metrics.itd_error_us(ref, ref, SR) == 0.0
    assert metrics.ild_error_db(ref, ref) == pytest.approx(0.0, abs=1e-9)
    gcc = metrics.interaural_time_difference(est, SR, phat=True)
    assert gcc == pytest.approx(-10 / SR * 1e6)


def test_binaural_metrics_refuse_mono():
    with pytest.raises(metrics.MetricError, match="2-channel"):
        metrics.ild_error_db(speechlike(), speechlike())
