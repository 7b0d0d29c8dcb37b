// Package checkpoint reads and writes model weights in the formats NetSSM and
// mamba-ssm use: safetensors, PyTorch's torch.save zip (pytorch_model.bin),
// and HuggingFace Trainer checkpoint folders.
//
// Tensors are held as float32 whatever their stored dtype (F32, BF16, F16);
// the stored dtype is kept so that a round trip writes what was read.
// Writes are atomic: a file is written to a temporary name beside the target
// and renamed, so a crash never leaves a half-written checkpoint.
package checkpoint
