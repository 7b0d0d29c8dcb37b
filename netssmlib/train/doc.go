// Package train trains NetSSM's Mamba2 language model on the CPU the way
// NetSSM's HuggingFace Trainer does: next-token cross-entropy, AdamW with a
// linear decay schedule, gradient clipping, batches and gradient
// accumulation, epochs over a deterministically shuffled dataset,
// checkpoint-N folders (newest 2 kept) and a final <N>_epochs folder,
// automatic bit-exact resume, and fine-tuning with a grown vocabulary.
package train
