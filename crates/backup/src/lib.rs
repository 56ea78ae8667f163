//! Backups of guest disks, modelled on Proxmox Backup Server and vzdump: a deduplicating chunk store,
//! live incremental backups through QMP and NBD, restore, verify, prune, GC, schedules and `jobs.cfg`.

pub mod backup_file;
pub mod calendar;
pub mod chunk_store;
pub mod datastore;
pub mod disk_backup;
pub mod error;
pub mod gc;
pub mod index;
pub mod jobs_cfg;
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
pub use datastore::{Datastore, SnapshotId};
pub use error::BackupError;
pub use gc::{garbage_collect, GcReport};
pub use index::{FixedIndex, CHUNK_SIZE};
pub use jobs_cfg::{BackupJob, Selection};
pub use live::{backup_live, LiveBackupRequest};
pub use manifest::{BackupMode, Manifest};
pub use prune::{KeepOptions, PruneMark};
pub use restore::{restore, RestoreReport, RestoreRequest};
pub use verify::{verify, VerifyReport};
