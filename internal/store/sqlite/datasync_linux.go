package sqlite

import (
	"os"

	"golang.org/x/sys/unix"
)

// datasync flushes f's data (and the metadata needed to read it back, such
// as its size) without the inode's timestamps: on ext4 this skips a journal
// commit that a full fsync of an overwritten WAL would pay.
func datasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}
