"""training/soup_verifier.py reads an int8 verifier export back into the checkpoint's weights:
the weights it reads, put into the model, score as the export does."""

from pathlib import Path

import numpy as np
import pytest

from .conftest import training_script

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "bot" / "models" / "verifier"


def test_the_shipped_exports_weights_read_back_score_as_the_export_does() -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from bot.answer.verify import Verifier

    weights = training_script("soup_verifier").dequantised(SHIPPED / "model.onnx")
    assert weights["bert.embeddings.word_embeddings.weight"].shape == (30522, 384)
    assert weights["bert.encoder.layer.5.intermediate.dense.weight"].shape == (1536, 384)
    assert weights["classifier.weight"].shape == (1, 384)
    config = transformers.BertConfig(
        vocab_size=30522,
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
        num_labels=1,
    )
    model = transformers.BertForSequenceClassification(config).eval()
    state = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in weights.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all("position_ids" in k for k in missing)

    question = "How many times is a failed download retried?"
    passages = [
        "A failed download is retried three times before the tool gives up.",
        "The tool reads its settings from a file named tool.toml.",
        "Downloads are written to the cache folder.",
    ]
    verifier = Verifier(SHIPPED, threads=1)
    want = verifier.scores(question, passages)
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(SHIPPED / "tokenizer.json"))
    got = []
    with torch.no_grad():
        for passage in passages:
            enc = tokenizer.encode(question, passage)
            logit = model(
                input_ids=torch.tensor([enc.ids]),
                attention_mask=torch.tensor([enc.attention_mask]),
                token_type_ids=torch.tensor([enc.type_ids]),
            ).logits[0, 0]
            got.append(float(torch.sigmoid(logit)))
    # The export also quantises activations; the weights read back are the export's own.
    assert np.argsort(got).tolist() == np.argsort(want).tolist()
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    assert np.allclose(logit(np.array(got)), logit(want), atol=0.25)
