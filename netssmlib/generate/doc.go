// Package generate samples packet traces from a trained model the way
// NetSSM does (mamba-ssm's decode): a prompt is prefilled into the
// recurrent state, then tokens are drawn one step at a time at constant cost
// per token, with NetSSM's sampling options (temperature, top-k, top-p,
// min-p, CTRL repetition penalty, seed). Lengths are counted in tokens or in
// packets (<|pkt|> tokens); a row stops at <|endoftext|>. Many traces are
// generated at once as the rows of one batched state.
package generate
