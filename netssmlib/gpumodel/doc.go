// Package gpumodel is NetSSM's Mamba2 language model (netssmlib/mamba's
// Model: the same architecture, parameter names and weights) trained and
// sampled on a gpu.Backend.
//
// A Model holds, on the device, the fp32 master weights, (in bf16 mode) bf16
// working copies of the matrix-product weights, and once training starts the
// fp32 gradients and AdamW moments. ForwardBackward adds the gradient of the
// summed next-token cross-entropy into the device gradients; Step clips them
// and applies AdamW exactly as netssmlib/train does on the host. Download and
// Upload move the weights between the device and the mamba.Model.
//
// Memory: per layer only the fp32 residual entering the layer and the
// in_proj output are always kept between the forward and the backward pass;
// the norm output, conv output, SSD output and gated-norm output are kept
// for as many layers as Options.ActivationBudget allows and recomputed one
// layer at a time in the backward pass for the others. One set of gradient
// scratch buffers is shared by all layers. PlanMemory gives the exact bytes
// (the same code that allocates them, run dry).
//
// A Decoder keeps the recurrent state (conv window and SSM state of every
// layer) for a batch of rows and produces next-token logits one token per
// row at a time.
package gpumodel
