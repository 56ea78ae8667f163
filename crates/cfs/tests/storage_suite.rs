//! openraft's own storage conformance suite, run against the redb log store and state machine.

use brigade_cfs::log_store::LogStore;
use brigade_cfs::state_machine::StateMachine;
use brigade_cfs::types::{StorageError, TypeConfig};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{ErrorSubject, ErrorVerb};

struct RedbStores;

fn io(e: impl std::fmt::Display) -> StorageError {
    openraft::StorageIOError::new(
        ErrorSubject::Store,
        ErrorVerb::Write,
        openraft::AnyError::error(e.to_string()),
    )
    .into()
}

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for RedbStores {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().map_err(io)?;
        let log = LogStore::open(&dir.path().join("log.redb")).map_err(io)?;
        let sm = StateMachine::open(&dir.path().join("state.redb")).map_err(io)?;
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    Suite::test_all(RedbStores).expect("openraft storage suite");
}
