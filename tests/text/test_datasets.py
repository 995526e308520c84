"""CLRS-Text datasets on disk: the published table, shards, determinism, resume."""

import argparse
import ast
import json
import os
import pathlib
import pickle
import re
import sys

import pytest

import openclrs
from openclrs.specs import ALL_ALGS, CLRS_30_ALGS
from openclrs.text import format_example
from openclrs.text import datasets as tds
from openclrs.cli.text import main as text_main
from openclrs.data.build import RecipeConflictError
from openclrs.cli.text import register

from .helpers import fixture_examples, trace_for

PUBLISHED_SCRIPT = pathlib.Path(
    "/work/ref/src/clrs/_src/clrs_text/generate_clrs_text.py")

# A small split that exercises everything: two seeds (streams), shards that
# start inside a stream and span two streams, an algorithm with integer
# scalars (bfs), one with tuples (binary_search), one with floats.
SMALL = {"name": "small", "lengths": {"insertion_sort": [4, 7], "bfs": [5],
                                      "binary_search": [6]},
         "num_samples": 9, "seeds": [5, 2]}
SHARD = 7  # 18 examples per pair -> shards of 7, 7, 4


# --------------------------------------------------------------------------
# The published configuration.
# --------------------------------------------------------------------------

def test_published_train_table_is_2_15_million_examples():
    train = tds.get_split("train")
    assert set(train.lengths) == set(CLRS_30_ALGS)
    assert len(train.pairs()) == 215
    assert (train.num_samples, train.seeds) == (10_000, (0,))
    assert train.num_examples == 2_150_000 == sum(train.counts().values())
    assert train.counts()["bridges"] == 20_000 and train.counts()["bfs"] == 100_000
    assert not train.use_hints and train.decimals == 3 and train.float_format == "current"


def test_published_eval_table():
    evaluation = tds.get_split("eval")
    assert tds.get_split("val") is evaluation  # the published name
    assert set(evaluation.lengths) == set(CLRS_30_ALGS)
    assert len(evaluation.pairs()) == 823
    assert (evaluation.num_samples, evaluation.seeds) == (125, (3, 14, 35, 81, 94))
    assert evaluation.num_examples == 514_375
    assert evaluation.lengths["minimum"] == tuple(range(4, 65))
    assert evaluation.lengths["bridges"] == (4, 5, 6, 7)


@pytest.mark.skipif(not PUBLISHED_SCRIPT.exists(), reason="published CLRS-Text code not here")
def test_tables_equal_the_published_script():
    tree = ast.parse(PUBLISHED_SCRIPT.read_text())
    published = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name.startswith("_DEFAULT_"):
                published[name] = eval(compile(ast.Expression(node.value), "x", "eval"))
    assert {a: tuple(v) for a, v in published["_DEFAULT_TRAIN_ALGOS_AND_LENGTHS"].items()} \
        == dict(tds.TRAIN_LENGTHS)
    assert {a: tuple(v) for a, v in published["_DEFAULT_VAL_ALGOS_AND_LENGTHS"].items()} \
        == dict(tds.EVAL_LENGTHS)
    assert published["_DEFAULT_TRAIN_NUMBER_OF_SAMPLES"] == tds.TRAIN.num_samples
    assert tuple(published["_DEFAULT_TRAIN_SEEDS"]) == tds.TRAIN.seeds
    assert published["_DEFAULT_VAL_NUMBER_OF_SAMPLES"] == tds.EVAL.num_samples
    assert tuple(published["_DEFAULT_VAL_SEEDS"]) == tds.EVAL.seeds


def test_every_published_pair_samples_and_formats():
    for algorithm, length in dict.fromkeys(tds.TRAIN.pairs() + tds.EVAL.pairs()):
        trace = next(openclrs.Sampler(algorithm, length, 0, 3))
        question, answer = tds.ExampleFormatter(algorithm)(trace)
        assert question.startswith(f"{algorithm}:\n") and answer.endswith("\n\n")


def test_split_specs_validate_and_pickle():
    custom = tds.get_split({"algos_and_lengths": {"bfs": [4]}, "number_of_samples": 3,
                            "seed": 1})  # the published script's names
    assert (custom.name, custom.seeds, custom.num_examples) == ("custom", (1,), 3)
    assert pickle.loads(pickle.dumps(custom)) == custom
    assert pickle.loads(pickle.dumps(tds.EVAL)) == tds.EVAL
    with pytest.raises(ValueError, match="did you mean"):
        tds.TextSplit("x", {"bfz": (4,)}, 1, (0,))
    for bad in ("a/b", "..", "../x", ".hidden", "a-b", ""):
        with pytest.raises(ValueError, match="split name"):
            tds.TextSplit(bad, {"bfs": (4,)}, 1, (0,))
    with pytest.raises(ValueError, match="positive"):
        tds.TextSplit("x", {"bfs": (0,)}, 1, (0,))
    with pytest.raises(ValueError, match="unknown split field"):
        tds.get_split({"lengths": {"bfs": [4]}, "num_samples": 1, "seeds": [0], "hint": 1})
    with pytest.raises(ValueError, match="needs"):
        tds.get_split({"lengths": {"bfs": [4]}})
    with pytest.raises(ValueError, match="no option"):
        tds.TextSplit("x", {"bfs": (4,)}, 1, (0,), sampler_kwargs={"bfs": {"q": 1}})
    with pytest.raises(ValueError, match="unknown split"):
        tds.get_split("test")
    with pytest.raises(ValueError, match="no lengths for"):
        tds.TRAIN.select(["bipartite_matching"])


def test_plan_shards_cut_streams_in_order():
    spec = tds.get_split(SMALL)
    shards = tds.plan_shards(spec, SHARD)
    assert len(shards) == 4 * 3
    first = [s for s in shards if (s.algorithm, s.length) == ("insertion_sort", 4)]
    assert [s.segments for s in first] == [((5, 0, 7),), ((5, 7, 2), (2, 0, 5)), ((2, 5, 4),)]
    assert [s.file for s in first] == [f"small-insertion_sort-n4-0000{i}.jsonl" for i in range(3)]
    assert sum(s.num_examples for s in shards) == spec.num_examples == 72
    # The published splits with the default shard size: one file per pair, no scans.
    train = tds.plan_shards(tds.TRAIN)
    assert len(train) == 215 and all(s.segments == ((0, 0, 10_000),) for s in train)


# --------------------------------------------------------------------------
# The strings: those of format_example, i.e. the published ones.
# --------------------------------------------------------------------------

def test_shards_format_with_format_example_formatter():
    from openclrs.text import format as text_format

    assert tds.ExampleFormatter is text_format.ExampleFormatter  # one implementation


def test_shard_formatter_writes_published_strings():
    for algorithm in ALL_ALGS:
        for ex in fixture_examples(algorithm):
            formatter = tds.ExampleFormatter(algorithm, ex["use_hints"], ex["float_format"])
            assert formatter(trace_for(ex)) == (ex["question"], ex["answer"]), \
                f"{algorithm} n={ex['length']} #{ex['index']}"


@pytest.mark.parametrize("float_format", ["current", "legacy"])
def test_hinted_records_equal_format_example(float_format):
    spec = tds.get_split(SMALL).replace(use_hints=True, float_format=float_format)
    for shard in tds.plan_shards(spec, SHARD):
        records = list(tds.iter_records(shard))
        assert len(records) == shard.num_examples
        for question, answer, seed, index in records:
            trace = openclrs.sample(shard.algorithm, length=shard.length, seed=seed,
                                    num_samples=index + 1,
                                    truncate_decimals=spec.decimals)[index]
            assert (question, answer) == format_example(shard.algorithm, trace, True,
                                                        float_format), shard.file


# --------------------------------------------------------------------------
# Writing.
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    manifest = tds.generate_text_dataset(str(out), SMALL, shard_size=SHARD, workers=1,
                                         progress=False)
    return out, manifest


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(pathlib.Path(folder).iterdir())}


def test_records_fields_counts_and_strings(small_serial):
    out, manifest = small_serial
    assert manifest["num_examples"] == 72 and len(manifest["shards"]) == 12
    for entry in manifest["shards"].values():
        records = list(tds.read_jsonl(str(out / entry["file"])))
        assert len(records) == entry["num_examples"]
    by_stream = {}
    for record in tds.read_jsonl(tds.data_files(str(out), "small")):
        assert tuple(record) == tds.COLUMNS
        assert record["text"] == record["question"] + record["answer"]
        assert record["use_hints"] is False
        by_stream.setdefault((record["algo_name"], record["length"], record["seed"]),
                             []).append(record)
    assert len(by_stream) == 8
    for (algorithm, length, seed), records in by_stream.items():
        assert [r["index"] for r in records] == list(range(9))
        traces = openclrs.sample(algorithm, length=length, seed=seed, num_samples=9,
                                 truncate_decimals=3)
        for record, trace in zip(records, traces):
            assert (record["question"], record["answer"]) == format_example(algorithm, trace)


def test_json_lines_are_json_dumps():
    line = tds.jsonl_line('q "x"\n', "a\\\n\n", "bfs", 4, True, 3, 12, True)
    record = {"text": 'q "x"\na\\\n\n', "question": 'q "x"\n', "answer": "a\\\n\n",
              "algo_name": "bfs", "length": 4, "use_hints": True, "seed": 3, "index": 12}
    assert line == json.dumps(record, separators=(",", ":")) + "\n"
    assert "text" not in json.loads(tds.jsonl_line("q", "a", "bfs", 4, True, 3, 12, False))


def test_damaged_jsonl_names_the_file_and_line(tmp_path):
    from openclrs.files import CorruptFileError

    path = tmp_path / "mine.jsonl"
    path.write_text('{"question": "q", "answer": "a"}\n\n{"question": 1,\n')
    records = tds.read_jsonl(str(path))
    assert next(records) == {"question": "q", "answer": "a"}
    with pytest.raises(CorruptFileError, match=re.escape(f"{path}, line 3: not JSON")):
        next(records)  # (the blank line 2 holds no record)
    path.write_bytes(b'{"question": "\xff"}\n')
    with pytest.raises(CorruptFileError, match=re.escape(f"{path}, line 1: not UTF-8")):
        list(tds.read_jsonl([str(path)]))


def test_no_unused_shard_writer():
    # One way to write a shard: through the builder (generate_text_dataset).
    assert not hasattr(tds, "build_shard") and "build_shard" not in tds.__all__


def test_any_worker_count_gives_the_same_bytes(small_serial, tmp_path):
    out, _ = small_serial
    tds.generate_text_dataset(str(tmp_path), SMALL, shard_size=SHARD, workers=2,
                              progress=False)
    assert _files(tmp_path) == _files(out)  # shards and manifest alike


def test_resume_rebuilds_only_broken_shards(small_serial, tmp_path, capsys):
    reference = _files(small_serial[0])
    for name, data in reference.items():
        (tmp_path / name).write_bytes(data)
    deleted = "small-bfs-n5-00001.jsonl"
    truncated = "small-insertion_sort-n7-00002.jsonl"
    corrupted = "small-binary_search-n6-00000.jsonl"
    (tmp_path / deleted).unlink()
    (tmp_path / truncated).write_bytes(reference[truncated][:50])
    data = bytearray(reference[corrupted])
    data[40] ^= 1  # same size, different bytes
    (tmp_path / corrupted).write_bytes(bytes(data))
    # A killed writer's temporary file (process 4194305 is above Linux's pid_max: dead).
    (tmp_path / f".tmp-4194305-abcd1234-{deleted}").write_text("half-written")
    untouched = tmp_path / "small-bfs-n5-00000.jsonl"
    before = untouched.stat().st_mtime_ns
    tds.generate_text_dataset(str(tmp_path), SMALL, shard_size=SHARD, workers=1,
                              progress=False, log=sys.stdout)
    log = capsys.readouterr().out
    assert truncated in log and corrupted in log
    assert untouched.stat().st_mtime_ns == before
    assert _files(tmp_path) == reference
    # Nothing left to do: nothing is written.
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()
              if p.name.endswith(".jsonl")}
    tds.generate_text_dataset(str(tmp_path), SMALL, shard_size=SHARD, progress=False)
    assert stamps == {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()
                      if p.name.endswith(".jsonl")}


def test_interrupted_run_resumes(small_serial, tmp_path, monkeypatch):
    from openclrs.text.shards import Shard

    real = Shard.write
    calls = []

    def flaky(shard, path, report=lambda k: None, prepared=None):
        calls.append(shard.file)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(shard, path, report, prepared)

    monkeypatch.setattr(Shard, "write", flaky)
    with pytest.raises(KeyboardInterrupt):
        tds.generate_text_dataset(str(tmp_path), SMALL, shard_size=SHARD, workers=1,
                                  progress=False)
    assert len(tds.read_manifest(str(tmp_path), "small")["shards"]) == 2  # saved on the way out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    monkeypatch.setattr(Shard, "write", real)
    tds.generate_text_dataset(str(tmp_path), SMALL, shard_size=SHARD, workers=2,
                              progress=False)
    assert _files(tmp_path) == _files(small_serial[0])


def test_changed_recipe_needs_force(small_serial, tmp_path):
    for name, data in _files(small_serial[0]).items():
        (tmp_path / name).write_bytes(data)
    spec = dict(SMALL, lengths={"bfs": [5]})
    before = _files(tmp_path)
    with pytest.raises(RecipeConflictError, match="--force") as error:
        tds.generate_text_dataset(str(tmp_path), spec, shard_size=100, use_hints=True,
                                  progress=False)
    assert "small-bfs-n5-00000.jsonl" in str(error.value)
    assert _files(tmp_path) == before  # nothing changed
    manifest = tds.generate_text_dataset(str(tmp_path), spec, shard_size=100, use_hints=True,
                                         progress=False, log=open(os.devnull, "w"), force=True)
    bfs = sorted(p.name for p in tmp_path.glob("small-bfs-*"))
    assert bfs == ["small-bfs-n5-00000.jsonl"]  # the 3 old bfs shards are gone
    assert len(list(tmp_path.glob("small-insertion_sort-*"))) == 6  # other algorithms kept
    records = list(tds.read_jsonl(str(tmp_path / bfs[0])))
    assert len(records) == 18 and all(r["use_hints"] for r in records)
    assert "initial_trace:" in records[0]["question"]
    assert manifest["shards"][bfs[0]]["use_hints"] is True
    assert set(tds.read_manifest(str(tmp_path), "small")["shards"]) == {
        p.name for p in tmp_path.glob("small-*")}


def test_published_eval_layout(tmp_path):
    spec = tds.EVAL.select(["bridges"]).replace(num_samples=2)
    manifest = tds.generate_text_dataset(str(tmp_path), spec, workers=1, progress=False)
    assert sorted(manifest["shards"]) == [f"eval-bridges-n{n}-00000.jsonl" for n in range(4, 8)]
    records = list(tds.read_jsonl(str(tmp_path / "eval-bridges-n6-00000.jsonl")))
    assert [(r["seed"], r["index"]) for r in records] == [
        (s, i) for s in (3, 14, 35, 81, 94) for i in range(2)]
    trace = openclrs.sample("bridges", length=6, seed=35, num_samples=2,
                            truncate_decimals=3)[1]
    assert (records[5]["question"], records[5]["answer"]) == format_example("bridges", trace)


def test_parquet_needs_pyarrow(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r'pip install "openclrs\[text\]"'):
        tds.generate_text_dataset(str(tmp_path), SMALL, format="parquet", progress=False)
    assert not list(tmp_path.iterdir())


def test_parquet_shards(small_serial, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    tds.generate_text_dataset(str(tmp_path / "a"), SMALL, format="parquet", shard_size=SHARD,
                              workers=1, progress=False)
    tds.generate_text_dataset(str(tmp_path / "b"), SMALL, format="parquet", shard_size=SHARD,
                              workers=2, progress=False)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    rows = pq.read_table(tds.data_files(str(tmp_path / "a"), "small")).to_pylist()
    assert rows == list(tds.read_jsonl(tds.data_files(str(small_serial[0]), "small")))


def test_load_dataset_reads_the_files(small_serial, tmp_path):
    datasets = pytest.importorskip("datasets")
    out, manifest = small_serial
    ds = datasets.load_dataset("json", data_files=tds.data_files(str(out), "small"),
                               split="train", cache_dir=str(tmp_path / "cache"))
    assert ds.num_rows == manifest["num_examples"]
    assert ds.column_names == list(tds.COLUMNS)
    assert ds[0] == next(tds.read_jsonl(tds.data_files(str(out), "small")))


# --------------------------------------------------------------------------
# Command line.
# --------------------------------------------------------------------------

def test_cli_generate_and_config(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["generate", "--algorithms", "bfs", "kmp_matcher", "--lengths", "6",
            "--num-samples", "4", "--seed", "1", "2", "--shard-size", "5", "--name", "mine",
            "--hints", "--out", str(out), "--workers", "1", "--quiet"]
    assert text_main(argv) == 0
    assert capsys.readouterr().err == ""  # --quiet
    files = sorted(p.name for p in out.iterdir() if p.name != ".openclrs-lock")
    assert files == ["manifest-mine.json"] + [f"mine-{a}-n6-0000{i}.jsonl"
                                              for a in ("bfs", "kmp_matcher") for i in (0, 1)]
    record = next(tds.read_jsonl(str(out / "mine-kmp_matcher-n6-00000.jsonl")))
    assert record["use_hints"] and "trace | s:" in record["question"]
    assert text_main(["text", "config", "--split", "val"]) == 0
    assert "514,375 examples" in capsys.readouterr().out


def test_cli_errors(tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "x")
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "pyarrow", None)
        assert text_main(["generate", "--format", "parquet", "--out", out, "--quiet"]) == 2
        assert 'pip install "openclrs[text]"' in capsys.readouterr().err
    assert text_main(["generate", "--algorithms", "kmp_matcher", "--lengths", "2",
                      "--out", out, "--quiet"]) == 2
    assert "cannot sample kmp_matcher at length 2" in capsys.readouterr().err
    assert text_main(["generate", "--algorithms", "bipartite_matching", "--out", out,
                      "--quiet"]) == 2
    assert "no lengths for" in capsys.readouterr().err
    for bad in (["--algorithms", "bfz"], ["--lengths", "0"], ["--split", "test"],
                ["--format", "csv"], ["--seed", "-1"], ["--workers", "0"]):
        with pytest.raises(SystemExit):
            text_main(["generate", "--out", out] + bad)
    assert "did you mean 'bfs'" in capsys.readouterr().err


def test_register_adds_the_text_group():
    parser = argparse.ArgumentParser(prog="openclrs")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["text", "generate", "--split", "eval", "--no-hints",
                              "--legacy-floats"])
    assert (args.command, args.text_command, args.split, args.hints, args.legacy_floats) == \
        ("text", "generate", "eval", False, True)
    assert callable(args.func)
