//! WHMCS server modules used unmodified (`DIR/NAME/NAME.php`), run through a PHP shim of
//! serversync's own, one PHP process per listing (CONTRACT.md "Modules").

use std::path::Path;
use std::sync::Arc;

use crate::{Module, Shared};

/// Loads the WHMCS module of folder `dir` (calls `NAME_MetaData()` through PHP); the reason
/// when it cannot be used.
pub async fn load(
    name: &str,
    dir: &Path,
    php: &Path,
    shared: &Shared,
) -> Result<Arc<dyn Module>, String> {
    let _ = (name, dir, php, shared);
    Err("WHMCS PHP modules are not supported yet".into())
}
