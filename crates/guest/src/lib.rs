//! Guests: QEMU VMs driven through QMP, namespace containers, `dir` storages and their volumes.

pub mod accel;
pub mod container;
pub mod ct_config;
pub mod error;
pub mod lock;
pub mod memory;
pub mod options;
pub mod process;
pub mod protection;
pub mod qemu;
pub mod qmp;
pub mod rundir;
pub mod running;
pub mod size;
pub mod storage;
pub mod vm_config;
pub mod volume;

pub use accel::{Accel, AccelChoice, AccelSetting};
pub use ct_config::CtConfig;
pub use error::GuestError;
pub use lock::GuestLock;
pub use rundir::RunDir;
pub use running::{running_guests, RunningGuest};
pub use storage::{Storage, StorageConfig};
pub use vm_config::VmConfig;
pub use volume::VolumeId;
