"""`openclrs text evaluate` reports the CLRS-Text paper's shape, parse and
CLRS scores (openclrs.text.paper_score) beside its own, on hand-made answers
whose scores are worked out by hand below."""

import json

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from openclrs import text  # noqa: E402
from openclrs.cli import main  # noqa: E402
from openclrs.cli.lm import PLOT_METRICS  # noqa: E402
from openclrs.lm import evaluate as lm_eval, model as lm, tokenizer  # noqa: E402
from openclrs.lm.config import LMConfig  # noqa: E402
from openclrs.text.scoring import METRICS, PAPER_METRICS  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

SAMPLES = 5


def truths(algorithm, length):
    return {e["question"]: e["answer"] for e in text.generate_examples(
        algorithm, length, seed=lm_eval.EVAL_SEED, num_samples=SAMPLES)}


def one_off(answer):
    """``[a b c d]`` with its last element changed: 3 of 4 elements right."""
    items = answer.strip()[1:-1].split()
    items[-1] = str(int(items[-1]) + 1)
    return "[" + " ".join(items) + "]\n\n"


def illicit(answer):
    """``[a x c d]``: the right shape, one illicit token (parse 0), 3 of 4 right."""
    items = answer.strip()[1:-1].split()
    items[1] = "x"
    return "[" + " ".join(items) + "]\n\n"


# bfs at n=4: the i-th question gets the i-th kind of answer
#              (shape, parse, clrs) of each, by hand
KINDS = [(lambda a: a, (1.0, 1.0, 1.0)),                       # the true answer
         (one_off, (1.0, 1.0, 0.75)),                          # one element wrong
         (lambda a: a.strip()[:-3] + "]\n\n", (0.0, 1.0, 0.0)),  # one element short
         (lambda a: "hello\n\n", (0.0, 0.0, 0.0)),             # no answer at all
         (illicit, (1.0, 0.0, 0.75))]                          # an illicit token
# means over the five: shape 3/5, parse 3/5, CLRS (1 + .75 + .75)/5 = 0.5
BFS_MEANS = {"shape_score": 0.6, "parse_score": 0.6, "clrs_score": 0.5}


def hand_made():
    bfs, minimum = truths("bfs", 4), truths("minimum", 4)

    def generate(prompts, max_new_tokens):
        if prompts[0] in minimum:  # every minimum answer is right
            return [minimum[p] for p in prompts]
        return [kind(bfs[p]) for p, (kind, _) in zip(prompts, KINDS)]
    return generate


def test_kinds_are_what_the_hand_computation_says():
    answer = next(iter(truths("bfs", 4).values()))
    assert answer.count(" ") == 3  # four elements
    for kind, expected in KINDS:
        predicted = text.extract_answer(kind(answer))
        assert tuple(text.paper_score("bfs", predicted, answer).as_dict()[m]
                     for m in ("shape_score", "parse_score", "clrs_score")) == expected


def test_evaluate_reports_paper_scores_in_rows_records_table_and_json(tmp_path):
    records = []
    board = lm_eval.evaluate(hand_made(), ["bfs", "minimum"], [4], num_samples=SAMPLES,
                             records=records)
    rows = {r["algorithm"]: r for r in board.rows()}
    for m, value in BFS_MEANS.items():
        assert rows["bfs"][m] == pytest.approx(value, abs=1e-12)
        assert rows["minimum"][m] == 1.0
    # the Scoreboard's own keys are all still there, with their own values
    assert set(METRICS) <= set(rows["bfs"]) and rows["bfs"]["count"] == SAMPLES
    assert rows["bfs"]["exact_match"] == pytest.approx(1 / SAMPLES)
    assert rows["minimum"]["exact_match"] == 1.0
    # per algorithm, the same means (one length each)
    by_algorithm = board.by_algorithm()
    assert by_algorithm["bfs"]["clrs_score"] == pytest.approx(0.5)
    # one record per example, with the paper's scores of that example
    bfs_records = [r for r in records if r["algorithm"] == "bfs"]
    assert [(r["shape_score"], r["parse_score"], r["clrs_score"]) for r in bfs_records] \
        == [expected for _, expected in KINDS]

    table = lm_eval.format_table(board).splitlines()
    assert table[0].split() == ["algorithm", "length", "count", "parsed", "shape", "exact",
                                "accuracy", "shape_s", "parse_s", "clrs"]
    assert table[2].split()[0] == "bfs" and table[2].split()[-3:] == ["0.600", "0.600",
                                                                      "0.500"]

    path = tmp_path / "eval.json"
    lm_eval.save_results(str(path), board, {"model": "hand-made"})
    data = json.loads(path.read_text())
    assert data["rows"][0]["clrs_score"] == pytest.approx(0.5)
    assert set(PAPER_METRICS) <= set(data["by_algorithm"]["minimum"])


def test_paper_scores_average_over_lengths_per_algorithm():
    board = lm_eval.EvaluationBoard()
    board.score("bfs", 4, "[0 1 2 4]", "[0 1 2 3]\n\n")        # CLRS 3/4
    board.score("bfs", 6, "[0 1 2 3 4 0]", "[0 1 2 3 4 5]\n\n")  # CLRS 5/6
    board.score("bfs", 6, None, "[0 1 2 3 4 5]\n\n")             # no answer: 0
    assert board.rows()[1]["clrs_score"] == pytest.approx(5 / 12)
    assert board.by_algorithm()["bfs"]["clrs_score"] == pytest.approx((3 / 4 + 5 / 6) / 3)
    assert board.paper("bfs", 6)[1] == {"shape_score": 0.0, "parse_score": 0.0,
                                        "clrs_score": 0.0}


def test_the_cli_plots_the_chosen_score_and_writes_the_paper_scores(tmp_path, monkeypatch):
    assert set(PLOT_METRICS) == set(METRICS) | set(PAPER_METRICS)
    torch.manual_seed(0)
    folder = tmp_path / "model"
    lm.save_model(str(folder), lm.GPT(LMConfig(n_layer=1, n_head=2, n_embd=16,
                                               block_size=256)), tokenizer.CharTokenizer())
    plotted = []
    monkeypatch.setattr(lm_eval, "plot_scores",
                        lambda rows, path, train, metric="accuracy", **kw: plotted.append(metric))
    common = ["text", "evaluate", "--checkpoint", str(folder), "--algorithms", "bfs",
              "--lengths", "4", "--num-samples", "2", "--max-new-tokens", "4", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "a.json")]) == 0
    assert main([*common, "--out", str(tmp_path / "b.json"), "--plot-metric",
                 "clrs_score"]) == 0
    assert plotted == ["accuracy", "clrs_score"]
    row = json.loads((tmp_path / "b.json").read_text())["rows"][0]
    assert set(METRICS) | set(PAPER_METRICS) <= set(row)
