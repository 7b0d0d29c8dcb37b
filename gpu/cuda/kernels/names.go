package kernels

// Names lists every kernel gpu/cuda launches.
var Names = []string{
	"k_fill", "k_scale", "k_convert", "k_sumsq", "k_embed", "k_embed_bwd", "k_adamw", "k_xent",
	"k_add_rmsnorm", "k_add_rmsnorm_bwd", "k_gated_rmsnorm", "k_gated_rmsnorm_bwd",
	"k_conv1d", "k_conv1d_bwd", "k_conv1d_step",
	"k_gemm_f32", "k_gemm_bf16", "k_gemv_tb", "k_gemm_tc_nn", "k_gemm_tc_nt", "k_gemm_tc_tn", "k_gemm_tc_tt", "k_gemm_tc4_nn", "k_gemm_tc4_nt", "k_gemm_tc4_tn", "k_gemm_tc4_tt", "k_gemm_splitk_reduce",
	"k_gemm_tc_s4_nn", "k_gemm_tc_s4_nt", "k_gemm_tc_s4_tn", "k_gemm_tc_s4_tt", "k_gemm_tc4_s4_nn", "k_gemm_tc4_s4_nt", "k_gemm_tc4_s4_tn", "k_gemm_tc4_s4_tt",
	"k_gemm_tc4_k64_nn", "k_gemm_tc4_k64_nt", "k_gemm_tc4_k64_tn", "k_gemm_tc4_k64_tt",
	"k_gemm_tc_128x256_nn", "k_gemm_tc_128x256_nt", "k_gemm_tc_128x256_tn", "k_gemm_tc_128x256_tt", "k_gemm_tc_256x128_nn", "k_gemm_tc_256x128_nt", "k_gemm_tc_256x128_tn", "k_gemm_tc_256x128_tt",
	"k_ssd_fwd", "k_ssd_chunk_state", "k_ssd_chunk_pass", "k_ssd_chunk_out", "k_ssd_bwd", "k_ssd_bwd_dstate", "k_ssd_bwd_pass", "k_ssd_bwd_dt", "k_ssd_bwd_heads", "k_copy2d", "k_ssd_step",
	"k_dec_in", "k_dec_ssd", "k_dec_out", "k_dec_persistent", "k_grid_barrier_test",
	"k_gradnorm_partial", "k_gradnorm_final", "k_adamw_flat", "k_accum_sum",
}
