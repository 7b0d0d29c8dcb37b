//go:build cudaemu && !cuda

package cuda

/*
#include <stdlib.h>
long long netssm_emu_ldsm_conflicts(void);
long long netssm_emu_launches(const char* name);
*/
import "C"

import "unsafe"

// EmuLaunches returns how many times the emulator has launched the kernel
// name in this process (for tests that check which path an op took).
func EmuLaunches(name string) int64 {
	emuMu.Lock()
	defer emuMu.Unlock()
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return int64(C.netssm_emu_launches(cname))
}

// EmuLdmatrixConflicts returns the shared-memory bank conflicts (extra
// wavefronts) of all emulated ldmatrix instructions in this process: a
// kernel that reads its swizzled tiles right adds none.
func EmuLdmatrixConflicts() int64 {
	emuMu.Lock()
	defer emuMu.Unlock()
	return int64(C.netssm_emu_ldsm_conflicts())
}
