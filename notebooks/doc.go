// Package notebooks holds netssm's example notebooks (quickstart.ipynb,
// finetune.ipynb, gpu.ipynb) and the tests that execute them with
// `netssm run` and check what they produced. It has no Go API.
package notebooks
