//! The step kinds that look after a lake table: its history, a file damaged on purpose,
//! `verify`, and queries over the lake as it was (time travel).

use pipelab_federate::QueryEngine;
use pipelab_lake::catalog::to_batch;
use pipelab_lake::{AsOf, LakeError, LakeTable};

use crate::definition::{CorruptStep, Integrity, TableStep, VerifyStep};
use crate::explain::Arrow;
use crate::runner::{Failure, Run, plural, printed};

fn lake_failure(e: LakeError) -> Failure {
    Failure::of(e.is_user_fixable(), e)
}

/// The columns of a table's history a history step prints.
const HISTORY_COLUMNS: [&str; 6] = [
    "version",
    "time",
    "operation",
    "files_added",
    "files_removed",
    "rows_added",
];

impl Run<'_> {
    /// The table's commits, newest first, as `pipelab lake history` lists them.
    pub(crate) async fn history(&mut self, step: &TableStep) -> Result<(String, String), Failure> {
        let table = LakeTable::open(&self.lake, &step.table)
            .await
            .map_err(lake_failure)?;
        let commits = table.history(None).await.map_err(lake_failure)?;
        let batch = to_batch(&commits).map_err(Failure::environment)?;
        // What fits in 100 columns: `pipelab lake history` shows the bytes and the
        // offsets each commit carries.
        let schema = batch.schema();
        let shown: Vec<usize> = HISTORY_COLUMNS
            .iter()
            .filter_map(|name| schema.index_of(name).ok())
            .collect();
        let batch = batch.project(&shown).map_err(Failure::environment)?;
        Ok((plural(commits.len() as u64, "commit"), printed(&[batch])?))
    }

    /// Flip one byte in the middle of a data file of the table (the first by path, in
    /// the step's partition if it names one); the log still lists the file as it was.
    pub(crate) async fn corrupt(
        &mut self,
        step: &CorruptStep,
    ) -> Result<(String, String), Failure> {
        let table = LakeTable::open(&self.lake, &step.table)
            .await
            .map_err(lake_failure)?;
        let mut files: Vec<String> = table
            .file_uris()
            .await
            .map_err(lake_failure)?
            .into_iter()
            .filter(|uri| {
                step.partition
                    .as_ref()
                    .is_none_or(|p| uri.contains(&format!("/{p}/")))
            })
            .collect();
        files.sort();
        let Some(uri) = files.first() else {
            return Err(Failure::user(format!(
                "lake table {} has no data file{}",
                step.table,
                step.partition
                    .as_ref()
                    .map(|p| format!(" in {p}"))
                    .unwrap_or_default()
            )));
        };
        // A local lake's files are where their URIs say; the embedded S3 endpoint keeps
        // an object as a file under the lake's folder, by its key.
        let s3_key = uri.strip_prefix(&format!("{}/", self.lake_url));
        let local = match (uri.strip_prefix("file://"), s3_key) {
            (Some(path), _) => path.to_string(),
            (None, Some(key)) => self.lake_dir.join(key).display().to_string(),
            (None, None) => uri.clone(),
        };
        let path = local.as_str();
        let mut bytes =
            std::fs::read(path).map_err(|e| Failure::environment(format!("{path}: {e}")))?;
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(path, &bytes).map_err(|e| Failure::environment(format!("{path}: {e}")))?;
        let name = path.rsplit('/').next().unwrap_or(path);
        let in_table = path
            .split(&format!("/{}/", step.table))
            .last()
            .unwrap_or(path);
        self.arrows.push(Arrow::new(
            "the scenario",
            format!("1 byte flipped at {middle}"),
            format!("lake table {} file {name}", step.table),
        ));
        Ok((
            format!("flipped byte {middle} of {in_table}"),
            String::new(),
        ))
    }

    /// Check the table's files against its log; the step fails when the finding is not
    /// what it expects.
    pub(crate) async fn verify(&mut self, step: &VerifyStep) -> Result<(String, String), Failure> {
        let table = LakeTable::open(&self.lake, &step.table)
            .await
            .map_err(lake_failure)?;
        let report = table.verify(false).await.map_err(lake_failure)?;
        let found = if report.findings.is_empty() {
            Integrity::Intact
        } else {
            Integrity::Damaged
        };
        let batch = to_batch(&report.findings).map_err(Failure::environment)?;
        let body = if report.findings.is_empty() {
            String::new()
        } else {
            printed(&[batch])?
        };
        let summary = format!(
            "{} of {} checked: {}",
            plural(report.files_checked, "file"),
            step.table,
            plural(report.findings.len() as u64, "finding")
        );
        if found != step.expect {
            return Err(Failure::user(format!(
                "expected the table {:?}, found it {:?}: {summary}\n{body}",
                step.expect, found
            )));
        }
        self.checked += 1;
        self.arrows.push(Arrow::new(
            format!("lake table {}", step.table),
            summary.clone(),
            format!("verify (as expected: {:?})", step.expect).to_lowercase(),
        ));
        Ok((format!("{summary}, as expected"), body))
    }

    /// A session over the lake's tables as they were at `version`.
    pub(crate) async fn engine_as_of(&self, version: u64) -> Result<QueryEngine, Failure> {
        let (engine, _absent) = QueryEngine::open_as_of(&self.lake, AsOf::Version(version))
            .await
            .map_err(|e| Failure::of(e.is_user_fixable(), e))?;
        Ok(engine)
    }
}
