// Package gpu holds the compute backends of the model: the pure-Go CPU path
// and, behind the cuda build tag, the CUDA backend.
package gpu
