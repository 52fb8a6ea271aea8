//! Table properties as Delta defines them.

use std::collections::BTreeMap;

use deltalake::TableProperty;

use crate::error::LakeError;

/// Refuse `delta.` keys Delta does not define (a typo would silently do nothing).
pub(crate) fn check_properties(
    url: &url::Url,
    properties: &BTreeMap<String, String>,
) -> Result<(), LakeError> {
    for key in properties.keys() {
        if key.starts_with("delta.") && key.parse::<TableProperty>().is_err() {
            return Err(LakeError::UnknownProperty {
                url: url.to_string(),
                key: key.clone(),
            });
        }
    }
    Ok(())
}
