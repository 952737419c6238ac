"""Group level: simulated subjects -> subject maps -> MNE cluster tests; parallel, Dask,
resume, bad inputs, the ``neuroxai group`` command.

The effect under test is the simulator's: in the spectral regime the mu/beta rhythm of the
class's motor source desynchronises after the cue (left hand: the source near C4, right
hand: near C3). The subject maps are spectral Integrated Gradient Correlation (IGC): each
class's correlation between the shared model's output and the labels, split over channels
and 2 Hz bins. The ERD is a *decrease* of mu amplitude, and the model reads a decrease at
C4 as evidence for the left hand (its gradient there is negative, checked below), so the
product that IGC integrates -- (amplitude - baseline) x gradient, correlated with the label
-- is positive: the contralateral clusters have t > 0.
"""
import numpy as np
import pytest

from neuroxai import InvalidInputError, ShapeError, UnknownNameError
from neuroxai.attribution import Attribution, read_attribution
from neuroxai.data import Trials, make_info
from neuroxai.group import (
    GroupResult,
    SubjectMaps,
    compute_group_statistics,
    compute_subject_maps,
    simulate_subjects,
)

pytestmark = pytest.mark.usefixtures("one_thread")

IGC = {"igc": dict(n_baselines=1, n_steps=4)}  # light settings; the clusters need no more
RIGHT = {"C4", "C6", "CP4", "FC4", "C2"}  # around the left-hand source
LEFT = {"C3", "C5", "CP3", "FC3", "C1"}  # around the right-hand source


@pytest.fixture(scope="module")
def subjects():
    return simulate_subjects(10, n_trials=48, verbose=False)


@pytest.fixture(scope="module")
def model(shipped_model):
    return shipped_model[0]


@pytest.fixture(scope="module")
def igc_maps(subjects, model):
    return compute_subject_maps(subjects, model, methods="igc", method_params=IGC,
                                cache_dir=False, verbose=False)


def _local_cluster():
    """A Dask cluster in this process (threads); its dashboards bound to loopback, as the
    test suite allows no other address."""
    from distributed import LocalCluster

    return LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                        dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0")


def _cluster(table, cls):
    rows = table[table["class"] == cls]
    assert len(rows), f"no significant cluster for {cls}:\n{table}"
    return rows.iloc[0]  # the smallest p-value


def test_simulate_subjects_differ_and_reproduce():
    a = simulate_subjects([1, 2], n_trials=8, verbose=False)
    b = simulate_subjects([2], n_trials=8, verbose=False)
    assert a.params[1]["seed"] != a.params[2]["seed"]
    assert a.params[1]["snr"] != a.params[2]["snr"] and 0.5 <= a.params[1]["snr"] <= 1.0
    assert not np.array_equal(a[1].X, a[2].X)
    # a subject's data depend on its id and the seed only, not on who else is simulated
    np.testing.assert_array_equal(a[2].X, b[2].X)
    assert a[1].class_names == ("feet", "left_hand", "right_hand", "tongue")


@pytest.mark.slow
def test_group_finds_contralateral_mu(igc_maps, subjects, model, tmp_path):
    import matplotlib.pyplot as plt

    from neuroxai.attribution import compute_amplitude_gradients
    from neuroxai.viz import plot_group_clusters, plot_group_topomaps

    assert isinstance(igc_maps, SubjectMaps) and igc_maps.subjects == list(range(1, 11))
    table = igc_maps.table()
    assert (table["accuracy"] > 0.5).all()  # the shared model decodes every subject
    res = compute_group_statistics(igc_maps, seed=0, verbose=False)
    assert isinstance(res, GroupResult) and res.dims == ("class", "chan", "band")
    sig = res.cluster_table(significant_only=True)
    left, right = _cluster(sig, "left_hand"), _cluster(sig, "right_hand")
    for row, near, far, src in ((left, RIGHT, "C3", "C4"), (right, LEFT, "C4", "C3")):
        chans = set(row["channels"].split(", "))
        assert row["p_value"] < 0.05 and row["sign"] == "+"
        assert row["peak"].split()[0] in near and src in chans and far not in chans
        assert 6 <= row["fmin"] and row["fmax"] <= 16  # mu, the rhythm with the most power
        assert row["peak_stat"] > 0
    # the cell mask follows the clusters
    k = res.coords["class"].index("left_hand")
    c4 = res.info["ch_names"].index("C4")
    assert res.mask[k, c4].any() and (res.p_values[res.mask] < 0.05).all()
    # FDR on the same maps: single cells at the sources
    fdr = compute_group_statistics(igc_maps, correction="fdr", verbose=False).cluster_table(True)
    assert "C4" in _cluster(fdr, "left_hand")["channels"]
    assert "C3" in _cluster(fdr, "right_hand")["channels"]
    # results convert to Attribution and survive the file format
    att = res.to_attribution("stat")
    back = read_attribution(att.save(tmp_path / "t-attr.npz"))
    np.testing.assert_array_equal(back.data, res.stat)
    assert back.coords["band"] == res.coords["band"]
    fig = plot_group_topomaps(res, show=False)
    assert len(fig.axes) == 4 * 2 + 1  # classes x (mu, beta) + colour bar
    assert len(plot_group_clusters(res, show=False).axes) >= 3
    plt.close("all")
    # why the sign is positive: the model reads less mu at C4 as left hand
    g = compute_amplitude_gradients(model, subjects[1], verbose=False)
    mu = (g.freqs >= 8) & (g.freqs <= 13)
    assert g.data[1, :, c4][:, mu].mean() < 0


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:IGC. the cells miss the correlation")  # r ~ 0 here
def test_group_with_permuted_labels_finds_nothing(subjects, model):
    rng = np.random.default_rng(1)
    shuffled = {s: Trials(t.X, rng.permutation(t.y), t.info, t.class_names, t.tmin)
                for s, t in subjects.items()}
    maps = compute_subject_maps(shuffled, model, methods="igc", method_params=IGC,
                                cache_dir=False, verbose=False)
    res = compute_group_statistics(maps, seed=0, verbose=False)
    assert len(res.clusters) > 0  # clusters form at the threshold, none survives
    assert res.n_significant == 0 and res.cluster_p.min() > 0.05
    assert not res.mask.any()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Couldn't detect a suitable IP address")  # offline
def test_parallel_and_dask_equal_serial(igc_maps, subjects, model, capfd):
    import joblib
    from distributed import Client

    part = {s: subjects[s] for s in (2, 5, 9)}
    kw = dict(methods="igc", method_params=IGC, cache_dir=False, verbose=False)
    capfd.readouterr()
    par = compute_subject_maps(part, model, n_jobs=2, **kw)
    assert "igc" not in capfd.readouterr().err  # no progress bars from the workers
    with _local_cluster() as cluster, Client(cluster), joblib.parallel_config(backend="dask"):
        dask = compute_subject_maps(part, model, **kw)
    for s in part:
        serial = igc_maps["igc"][s]
        for other in (par, dask):
            np.testing.assert_array_equal(other["igc"][s].data, serial.data)  # bit for bit
            assert other["igc"][s].params["cache_key"] == serial.params["cache_key"]
    assert sorted(par.computed) == sorted(dask.computed) == [(s, "igc") for s in part]


def test_resume_after_interruption(tmp_path, model, monkeypatch):
    from neuroxai.group import _jobs

    subs = simulate_subjects(4, n_trials=16, verbose=False)
    kw = dict(methods="amplitude_gradients", cache_dir=tmp_path / "cache", verbose=False)
    calls, fail = [], [True]
    real = _jobs._explain

    def explain(net, trials, method, params, s):
        calls.append(len(calls))
        if len(calls) == 3 and fail and fail.pop():  # the third subject: a kill, a full disk, a bug
            raise RuntimeError("interrupted")
        return real(net, trials, method, params, s)

    monkeypatch.setattr(_jobs, "_explain", explain)
    with pytest.raises(RuntimeError, match="interrupted"):
        compute_subject_maps(subs, model, **kw)
    files = sorted((tmp_path / "cache").glob("*-attr.npz"))
    assert [f.name.split("_")[0] for f in files] == ["sub-1", "sub-2"]  # written as finished
    stamps = {f: f.stat().st_mtime_ns for f in files}
    calls.clear()
    maps = compute_subject_maps(subs, model, **kw)
    assert len(calls) == 2  # subjects 3 and 4 only
    assert maps.cached == [(1, "amplitude_gradients"), (2, "amplitude_gradients")]
    assert maps.computed == [(3, "amplitude_gradients"), (4, "amplitude_gradients")]
    assert all(f.stat().st_mtime_ns == t for f, t in stamps.items())  # not rewritten
    fresh = compute_subject_maps({1: subs[1]}, model, **{**kw, "cache_dir": False})
    np.testing.assert_array_equal(maps["amplitude_gradients"][1].data,
                                  fresh["amplitude_gradients"][1].data)
    # other inputs never reuse a map made for different ones
    calls.clear()
    other = compute_subject_maps(subs, model, contrast="class_vs_rest", **kw)
    assert len(calls) == 4 and not other.cached


def _bare_maps(n, info, seed=0):
    rng = np.random.default_rng(seed)
    return {s: Attribution(rng.normal(size=(2, len(info["ch_names"]), 3)),
                           ("class", "chan", "band"), info, "m", {},
                           {"class": ["a", "b"], "band": ["x", "y", "z"],
                            "band_edges": np.array([[4, 6], [6, 8], [8, 10.0]])})
            for s in range(1, n + 1)}


def test_bad_inputs_named_errors(model, caplog):
    subs = simulate_subjects(2, n_trials=8, verbose=False)
    ok = dict(methods="amplitude_gradients", cache_dir=False, verbose=False)
    no_labels = {1: subs[1], 2: Trials(subs[2].X, None, subs[2].info, subs[2].class_names, -0.5)}
    with pytest.raises(InvalidInputError, match="subject 2 has no labels"):
        compute_subject_maps(no_labels, model, **ok)
    info21 = make_info([c for c in subs[2].info["ch_names"] if c != "Pz"])
    fewer = {1: subs[1], 2: Trials(np.delete(subs[2].X, subs[2].info["ch_names"].index("Pz"),
                                             axis=1), subs[2].y, info21, subs[2].class_names,
                                   -0.5)}
    with pytest.raises(InvalidInputError, match=r"different channel sets.*missing \['Pz'\]"):
        compute_subject_maps(fewer, model, **ok)
    one_class = {1: subs[1], 2: subs[2].select(idx=np.flatnonzero(subs[2].y != 3))}
    with pytest.raises(InvalidInputError, match="no trials of class"):
        compute_subject_maps(one_class, model, **ok)
    with pytest.raises(UnknownNameError, match="Unknown method 'saliancy'"):
        compute_subject_maps(subs, model, **{**ok, "methods": "saliancy"})
    with pytest.raises(InvalidInputError, match="does not apply to 'igc'"):
        compute_subject_maps(subs, model, methods="igc", contrast="class_vs_rest",
                             cache_dir=False)
    with pytest.raises(InvalidInputError, match="unknown parameter"):
        compute_subject_maps(subs, model, methods="igc", method_params={"igc": {"steps": 4}},
                             cache_dir=False)
    with pytest.raises(InvalidInputError, match="not both"):
        compute_subject_maps(subs, model, models={1: model, 2: model}, **ok)
    with pytest.raises(InvalidInputError, match="n_jobs"):
        compute_subject_maps(subs, model, n_jobs=0, **ok)
    with pytest.raises(InvalidInputError, match="bands"):
        compute_subject_maps(subs, model, bands={"mu": (13, 8)}, **ok)
    with pytest.raises(InvalidInputError, match="subjects must be a dict"):
        compute_subject_maps(subs[1], model, **ok)

    info = make_info()
    maps = _bare_maps(6, info)
    with pytest.raises(InvalidInputError, match="n_permutations"):
        compute_group_statistics(maps, n_permutations=0)
    with pytest.raises(InvalidInputError, match="at least 2"):
        compute_group_statistics({1: maps[1]})
    with pytest.raises(UnknownNameError):
        compute_group_statistics(maps, correction="bonferroni")
    mixed = dict(maps)
    mixed[6] = _bare_maps(1, info21)[1]
    with pytest.raises(InvalidInputError, match="channels='intersect'"):
        compute_group_statistics(mixed)
    caplog.set_level("INFO", logger="mne")
    res = compute_group_statistics(mixed, channels="intersect", n_permutations=20,
                                   verbose="INFO")
    assert res.stat.shape == (2, 21, 3) and "Pz" not in res.info["ch_names"]
    assert "subject 1: Pz" in caplog.text  # the log line names what each subject loses
    other_bands = dict(maps)
    other_bands[2] = Attribution(maps[2].data, maps[2].dims, info, "m", {},
                                 {**maps[2].coords, "band": ["x", "y", "w"]})
    with pytest.raises(ShapeError, match="'band' axis differs"):
        compute_group_statistics(other_bands)
    flat = {s: Attribution(np.ones((2, 22, 3)), a.dims, info, "m", {}, a.coords)
            for s, a in maps.items()}
    with pytest.raises(InvalidInputError, match="sigma="):
        compute_group_statistics(flat)


def test_paired_and_independent_tests():
    """A paired test of a map against itself plus a shift finds it; groups likewise."""
    info = make_info()
    a = _bare_maps(8, info, seed=0)
    b = {s: Attribution(m.data - 0.0, m.dims, info, "m", {}, m.coords) for s, m in a.items()}
    shift = np.zeros((2, 22, 3))
    shift[0, info["ch_names"].index("C4"), 1] = 5.0
    for s in b:
        b[s].data = b[s].data + shift + np.random.default_rng(s).normal(0, 0.1, shift.shape)
    res = compute_group_statistics(b, a, n_permutations=200, verbose=False)
    assert res.test == "paired" and res.n_significant >= 1
    row = res.cluster_table(True).iloc[0]
    assert "C4" in row["channels"] and row["class"] == "a" and row["bands"] == "y"
    ind = compute_group_statistics(b, _bare_maps(8, info, seed=3), paired=False,
                                   n_permutations=200, verbose=False)
    assert ind.test == "independent" and ind.stat_name == "F"
    assert ind.mask[0, info["ch_names"].index("C4"), 1]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Couldn't detect a suitable IP address")  # offline
def test_cli_group_report_cache_and_dask(tmp_path, capsys):
    import json

    from neuroxai.cli import main

    out = tmp_path / "grp"
    args = ["group", "--subjects", "1", "2", "3", "--n-trials", "12", "--method",
            "amplitude_gradients", "--n-permutations", "16", "--out", str(out), "--quiet"]
    with _local_cluster() as cluster:
        assert main(args + ["--scheduler", cluster.scheduler_address]) == 0
    # --quiet: no progress, only the warning that 3 subjects cannot reach p < 0.05
    assert capsys.readouterr().out.splitlines() == [
        "With 3 subjects the smallest attainable p-value is 0.25 >= alpha=0.05: nothing can "
        "be significant."]
    names = {p.name for p in out.iterdir()}
    assert names == {"report.html", "summary.json", "figures", "tables", "maps"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["backend"] == "dask" and summary["computed"] == 3
    assert (out / "figures" / "amplitude_gradients_group_topomaps.png").stat().st_size > 10_000
    html = (out / "report.html").read_text()
    assert "amplitude_gradients: clusters" in html
    cache = tmp_path / "grp.cache"
    assert len(list(cache.glob("sub-*-attr.npz"))) == 3  # beside the output, kept
    assert main(args[:-1]) == 0  # rerun, serial: everything from the cache
    assert "cache" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["computed"] == 0 and summary["cached"] == 3


def test_cli_group_usage_errors(tmp_path, capsys):
    from neuroxai.cli import main

    with pytest.raises(SystemExit) as err:
        main(["group", "--n-jobs", "0"])
    assert err.value.code == 2 and "--n-jobs" in capsys.readouterr().err
    code = main(["group", "--dataset", "BNCI2014_001", "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2 and "--subjects" in capsys.readouterr().err
    code = main(["group", "--subjects", "1", "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2 and "at least 2 subjects" in capsys.readouterr().err
