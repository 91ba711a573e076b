"""`python -m bot bench`: the speed figures of BENCHMARKS.md, each a median with min and max.

Synthetic corpora (cached under cache_dir/bench): passages of two real SQuAD-dev sentences;
a sentence's vector is its real embedding (ONNX export), a passage's the normalised mean of its
two sentences' plus a little noise, so real questions meet realistic vectors and BM25 real text.
The SQuAD-dev folder is given on the command line: `python -m bot bench --data FOLDER`.

`run` runs the steps; `stats` summarises timings; `data` reads SQuAD-dev; `synthetic` builds
the synthetic indexes; `latency`, `build`, `memory` and `late_interaction` measure. This file
imports nothing, so the processes started as `python -m bot.bench.memory` and
`python -m bot.bench.bare_import` load only what they measure.
"""
