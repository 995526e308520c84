"""Dump CLRS-Text question/answer strings from the published formatter.

Run with the Python of an environment where ``dm-clrs==2.0.3`` is installed:

    /work/ref/venv/bin/python tests/parity/dump_clrs_text.py --out tests/data/clrs_text

Samples are drawn the way the published CLRS-Text generators draw them: one
on-the-fly sampler per (algorithm, length, seed) built with
``num_samples=-1, track_max_steps=False, truncate_decimals=3`` and the
sampler's default options, read one sample at a time (``next(batch_size=1)``).
Each sample is formatted with and without hints by
``clrs._src.clrs_text.clrs_utils.format_clrs_example``.

With ``--legacy-git-dir`` (a clone or bare mirror of google-deepmind/clrs),
the formatter as it stood before the January 2025 switch to truncated floats
(commit ``dcf8643``, so its parent: the code of the July 2024 Hugging Face
release, which printed floats with 3 significant digits) is loaded from the
repository's history and applied to untruncated samples; those examples are
marked ``"float_format": "legacy"``.

One JSON file per algorithm, ``ALGO.json``: a list of examples, each with
``algorithm``, ``length``, ``seed``, ``index`` (position in the sampler's
stream), ``truncate_decimals``, ``sampler_kwargs``, ``use_hints``,
``float_format``, ``question`` and ``answer``; ``openclrs.sample(algorithm,
length=length, seed=seed, num_samples=index + 1,
truncate_decimals=truncate_decimals, **sampler_kwargs)[index]`` is the trace
the strings describe.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

# (length, seed, samples) per format.
CURRENT = [(5, 0, 3), (10, 14, 3)]
LEGACY = [(8, 3, 2)]
LEGACY_COMMIT = "dcf8643^"  # parent of "Add num_decimals_in_float parameter"
FORMATTER_PATH = "clrs/_src/clrs_text/clrs_utils.py"


def load_legacy_formatter(git_dir):
    source = subprocess.run(
        ["git", "--git-dir", git_dir, "show", f"{LEGACY_COMMIT}:{FORMATTER_PATH}"],
        check=True, capture_output=True, text=True).stdout
    fd, path = tempfile.mkstemp(suffix=".py")
    with os.fdopen(fd, "w") as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location("legacy_clrs_utils", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    os.unlink(path)
    return module


def examples_for(samplers, formatter, algorithm, configs, truncate_decimals, float_format):
    out = []
    for length, seed, count in configs:
        sampler, _ = samplers.build_sampler(
            algorithm, seed=seed, num_samples=-1, length=length,
            track_max_steps=False, truncate_decimals=truncate_decimals)
        for index in range(count):
            feedback = sampler.next(batch_size=1)
            for use_hints in (False, True):
                question, answer = formatter.format_clrs_example(
                    algorithm, feedback, use_hints=use_hints)
                out.append({
                    "algorithm": algorithm, "length": length, "seed": seed,
                    "index": index, "truncate_decimals": truncate_decimals,
                    "sampler_kwargs": {}, "use_hints": use_hints,
                    "float_format": float_format,
                    "question": question, "answer": answer,
                })
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--algorithms", nargs="*")
    parser.add_argument("--legacy-git-dir", default="/work/.mirror/google-deepmind+clrs/repo",
                        help="google-deepmind/clrs git dir for the legacy formatter "
                             "('' to skip legacy examples)")
    args = parser.parse_args()

    from clrs._src import samplers, specs  # the published package
    from clrs._src.clrs_text import clrs_utils

    legacy = None
    if args.legacy_git_dir and os.path.isdir(args.legacy_git_dir):
        legacy = load_legacy_formatter(args.legacy_git_dir)
    else:
        print("no legacy formatter source: skipping legacy examples", file=sys.stderr)

    os.makedirs(args.out, exist_ok=True)
    algorithms = args.algorithms or list(specs.SPECS)  # CLRS-30 and the two extras
    for algorithm in algorithms:
        examples = examples_for(samplers, clrs_utils, algorithm, CURRENT, 3, "current")
        if legacy is not None:
            examples += examples_for(samplers, legacy, algorithm, LEGACY, None, "legacy")
        path = os.path.join(args.out, f"{algorithm}.json")
        with open(path, "w") as f:
            json.dump(examples, f, indent=1)
            f.write("\n")
        print(algorithm, len(examples), file=sys.stderr)


if __name__ == "__main__":
    main()
