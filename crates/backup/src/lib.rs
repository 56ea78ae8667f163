//! Backups of guest disks, modelled on Proxmox Backup Server and vzdump: a deduplicating chunk store,
//! live incremental backups through QMP and NBD, restore, verify, prune, GC, schedules and `jobs.cfg`.
//!
//! On disk, in a `dir` storage with `content backup`:
//!
//! ```text
//! <path>/.brigade-datastore                      {"id": "<16 hex>"}: ties dirty bitmaps to this store
//! <path>/.chunks/<4 hex>/<sha256>                  4 MiB chunks (the last of an image shorter)
//! <path>/dump/vm/<vmid>/<RFC 3339 UTC time>/       one snapshot, listed only with its manifest:
//!     manifest.json                                config, disks, sizes, checksums, times, mode; checksummed
//!     qemu-server.conf                             the guest config, for people
//!     <slot>.img.fidx                              fixed index: size, chunk size, digests, checksum
//!                                                  (a container: one, rootfs.img.fidx, of its root tree's tar)
//! <path>/dump/vm/<vmid>/.tmp-<time>/writer.json    a backup in progress (pid, start): GC respects it
//! ```

pub mod backup_file;
pub mod calendar;
pub mod chunk_store;
pub mod ct_archive;
pub mod ct_backup;
pub mod datastore;
pub mod disk_backup;
pub mod error;
pub mod gc;
pub mod index;
pub mod job_state;
pub mod jobs_cfg;
pub mod jobs_cfg_write;
pub mod live;
pub mod live_cleanup;
pub mod manifest;
pub mod nbd;
pub mod nbd_source;
pub mod prune;
pub mod qemu_img;
pub mod restore;
pub mod restore_config;
pub mod schedule;
pub mod storage;
pub mod verify;

pub use backup_file::{backup_files, BackupReport, DiskFile, FileBackupRequest};
pub use calendar::CalendarEvent;
pub use chunk_store::{ChunkStore, Stats};
pub use ct_backup::{backup_tree, restore_tree, TreeBackupRequest, ROOTFS_SLOT};
pub use datastore::{Datastore, SnapshotId};
pub use disk_backup::Abort;
pub use error::BackupError;
pub use gc::{garbage_collect, GcReport};
pub use index::{FixedIndex, CHUNK_SIZE};
pub use jobs_cfg::{BackupJob, Selection};
pub use live::{backup_live, LiveBackupRequest};
pub use manifest::{BackupMode, GuestType, Manifest};
pub use prune::{KeepOptions, PruneMark};
pub use restore::{restore, RestoreReport, RestoreRequest};
pub use verify::{verify, VerifyReport};
