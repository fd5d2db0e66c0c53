//! One pass's work on one tenant's day: plan, take the lease, sweep, merge and publish step by
//! step (the protocol: docs/storage.md#protocol).

use bytes::Bytes;
use ulid::Ulid;

use super::{CompactionConfig, CompactionReport, MergeReport, Scope, lease};
use super::{Merge, MergeOutput, Plan, next_manifest, orphans, plan};
use crate::storage::keys::{Day, HOUR_NANOS, LeaseKey, Level, ManifestKey, SegmentKey};
use crate::storage::manifest::{self, CompactedSegment, Manifest, Quarantined};
use crate::storage::segment::{self, SegmentBuilder};
use crate::storage::store::{ObjectStore, PutMode, list_all};
use crate::tenant::Tenant;
use crate::{Error, Result};

/// What a day's compaction reads before planning.
struct DayState {
    current_key: Option<String>,
    manifest: Manifest,
    l0: Vec<SegmentKey>,
    compacted: Vec<SegmentKey>,
    /// Whether any lease object is there (perhaps an expired one of a killed compactor).
    leased: bool,
}

/// One pass's work on one tenant's day.
pub(super) struct Pass<'a> {
    pub(super) store: &'a dyn ObjectStore,
    pub(super) tenant: &'a Tenant,
    pub(super) day: Day,
    pub(super) clock: &'a dyn Fn() -> i64,
    /// No merge starts at or after this time.
    pub(super) deadline: i64,
    pub(super) config: &'a CompactionConfig,
    /// An open-hours pass leaves orphans and expired leases to the whole pass, so that when
    /// it has nothing to merge it reads only the manifest and the L0 listing.
    pub(super) scope: Scope,
}

impl Pass<'_> {
    pub(super) fn name(&self) -> String {
        format!("{} {}", self.tenant, self.day)
    }

    /// The newest manifest first, then the listings (the order the manifest doc requires);
    /// without `sweep`, not those of compacted segments and leases.
    fn load(&self, sweep: bool) -> Result<DayState> {
        let (current_key, manifest) =
            match manifest::load_latest(self.store, self.tenant, self.day)? {
                Some((k, m)) => (Some(k.to_string()), m),
                None => (None, Manifest::default()),
            };
        let list = |level| -> Result<Vec<SegmentKey>> {
            Ok(list_all(
                self.store,
                &SegmentKey::prefix(self.tenant, level, self.day),
            )?
            .iter()
            .filter_map(|o| SegmentKey::parse(&o.key))
            .collect())
        };
        let l0 = list(Level::L0)?;
        if !sweep {
            return Ok(DayState {
                current_key,
                manifest,
                l0,
                compacted: Vec::new(),
                leased: false,
            });
        }
        Ok(DayState {
            current_key,
            manifest,
            l0,
            compacted: list(Level::Compacted)?,
            leased: !list_all(self.store, &LeaseKey::prefix(self.tenant, self.day))?.is_empty(),
        })
    }

    /// Plans the day; if there is work (or a lease left to clear: taking the lease deletes an
    /// expired one), takes its lease and does it, planned again under the lease since another
    /// compactor may have published meanwhile.
    pub(super) fn compact_day(&self, report: &mut CompactionReport) -> Result<()> {
        // An open-hours pass leaves a day without uploads to the whole pass (nothing of the
        // open hours can be due there): one listing page of one key per idle tenant and pass
        // instead of the manifest's listing and read and the L0 listing, which on S3 made
        // passes every second cost twice what they did every two (storage.md).
        if self.scope == Scope::OpenHours {
            let l0 = SegmentKey::prefix(self.tenant, Level::L0, self.day);
            if self.store.list(&l0, None, 1, false)?.objects.is_empty() {
                return Ok(());
            }
        }
        let state = self.load(self.scope == Scope::AllDays)?;
        let now = (self.clock)();
        if plan(self.day, &state.manifest, &state.l0, now, self.config).is_empty()
            && orphans(&state.manifest, &state.compacted, now, self.config).is_empty()
            && !state.leased
        {
            return Ok(());
        }
        let duration = self.config.longest_pass_nanos();
        let Some(lease) = lease::acquire(self.store, self.tenant, self.day, now, duration)? else {
            report.leased.push(self.name());
            return Ok(());
        };
        let done = self
            .load(true)
            .and_then(|state| self.carry_out(state, report));
        let released = lease.release(self.store);
        done.and(released)
    }

    fn carry_out(&self, state: DayState, report: &mut CompactionReport) -> Result<()> {
        let DayState {
            mut current_key,
            mut manifest,
            l0,
            compacted,
            ..
        } = state;
        let now = (self.clock)();
        let plan = plan(self.day, &manifest, &l0, now, self.config);
        for key in orphans(&manifest, &compacted, now, self.config) {
            self.store.delete(&key)?;
            report.orphans.push(key);
        }
        // Deletions first: an L0 segment leaves `covered` only once it is gone (manifest doc);
        // the first version published drops them.
        for key in &plan.deletions {
            self.store.delete(key)?;
            report.deleted.push(key.clone());
        }
        let mut deletions = plan.deletions.clone();
        let mut merges = plan.merges;
        // An hour with more new L0 segments than one merge takes (a backlog) is merged again,
        // planned anew from what was published, while the pass's budget lasts.
        'budget: while !merges.is_empty() {
            let mut again = false;
            for merge in &merges {
                if (self.clock)() >= self.deadline {
                    report.unfinished.push(self.name());
                    break 'budget;
                }
                let written = self.write_merge(merge)?;
                let step = Plan {
                    merges: vec![merge.clone()],
                    deletions: std::mem::take(&mut deletions),
                };
                let output = MergeOutput {
                    merge: 0,
                    segment: written.segment.as_ref().map(|(s, _)| s.clone()),
                    quarantined: written.quarantined.clone(),
                };
                if output.segment.is_none() && output.quarantined.is_empty() {
                    deletions = step.deletions;
                    continue;
                }
                for q in &written.quarantined {
                    self.record_quarantine(q)?;
                }
                match self.publish(
                    &manifest,
                    current_key.as_deref(),
                    &step,
                    std::slice::from_ref(&output),
                    report,
                )? {
                    Some((key, next)) => {
                        (manifest, current_key) = (next, Some(key));
                        report.quarantined.extend(
                            written
                                .quarantined
                                .iter()
                                .map(|q| format!("{}: {}", q.key, q.reason)),
                        );
                        if let Some((segment, rows)) = written.segment {
                            report.merged.push(MergeReport {
                                output: segment.key.clone(),
                                l0_inputs: merge.inputs.len() - written.quarantined.len(),
                                replaced_existing: !merge.existing.is_empty(),
                                day: merge.day,
                                rows,
                                bytes: segment.size,
                            });
                        }
                        again |= merge.inputs.len() >= self.config.max_inputs.max(1);
                    }
                    None => {
                        // Lost the race: nothing references what we wrote.
                        if let Some(segment) = output.segment {
                            self.store.delete(&segment.key)?;
                        }
                        return Ok(());
                    }
                }
            }
            if !again {
                break;
            }
            // Only what this pass listed: later uploads wait for the next pass.
            merges = super::plan(self.day, &manifest, &l0, now, self.config).merges;
        }
        if !deletions.is_empty() {
            let step = Plan {
                merges: Vec::new(),
                deletions,
            };
            self.publish(&manifest, current_key.as_deref(), &step, &[], report)?;
        }
        Ok(())
    }

    /// Publishes the version after `manifest` that carries out `step`; `None` when another
    /// compactor published that version first (reported as a conflict).
    fn publish(
        &self,
        manifest: &Manifest,
        current_key: Option<&str>,
        step: &Plan,
        outputs: &[MergeOutput],
        report: &mut CompactionReport,
    ) -> Result<Option<(String, Manifest)>> {
        // The grace period of what this version replaces starts now, at the publish.
        let now = (self.clock)();
        let next = next_manifest(manifest, current_key, step, outputs, now, self.config);
        let key = ManifestKey {
            tenant: self.tenant.clone(),
            day: self.day,
            version: next.version,
        }
        .to_string();
        if manifest::publish(self.store, self.tenant, self.day, &next)? {
            report.published.push(key.clone());
            Ok(Some((key, next)))
        } else {
            report.conflicts.push(key);
            Ok(None)
        }
    }

    /// Writes why an L0 segment was set aside, beside the manifest that lists it (the host
    /// counts these records in its metrics); a record already there is kept.
    fn record_quarantine(&self, q: &Quarantined) -> Result<()> {
        tracing::warn!("quarantined unreadable segment {}: {}", q.key, q.reason);
        let Some(key) = SegmentKey::parse(&q.key) else {
            return Ok(());
        };
        let body = serde_json::to_vec_pretty(q).unwrap_or_default();
        match self
            .store
            .put(&key.quarantine_record(), body.into(), PutMode::Create)
        {
            Ok(()) | Err(crate::storage::store::StoreError::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads one merge's inputs (the compacted segments it replaces and its L0 segments) and
    /// writes their merge as a new compacted segment (an hour's, or the day's) with a
    /// create-only put. An L0 input that cannot be decoded is set aside, not merged; an
    /// unreadable compacted segment fails the day (its samples are nowhere else).
    fn write_merge(&self, merge: &Merge) -> Result<Written> {
        let mut builder = SegmentBuilder::new(self.tenant.as_str());
        let mut quarantined = Vec::new();
        let mut keys: Vec<String> = merge.existing.iter().map(|s| s.key.clone()).collect();
        keys.extend(merge.inputs.iter().cloned());
        let mut footers = segment::FooterCache::default();
        for (i, (key, bytes)) in keys.iter().zip(self.store.get_many(&keys)).enumerate() {
            match segment::decode_cached(bytes?, &mut footers) {
                Ok(data) => builder.add_segment(&data),
                Err(e) if i >= merge.existing.len() => quarantined.push(Quarantined {
                    key: key.clone(),
                    reason: format!("unreadable segment: {e}"),
                    at: (self.clock)(),
                }),
                Err(e) => {
                    return Err(Error::Corrupt {
                        key: key.clone(),
                        message: format!("unreadable segment: {e}"),
                    });
                }
            }
        }
        let data = builder.finish();
        let Some((min_time, max_time)) = data.time_range() else {
            return Ok(Written {
                segment: None,
                quarantined,
            });
        };
        let sums = if merge.day {
            segment::Sums::HoursAndDays
        } else {
            segment::Sums::Hours
        };
        let encoded = segment::encode_compacted(&data, sums)?;
        let bytes = Bytes::from(encoded.bytes);
        let hour_start = self.day.start_nanos() + i64::from(merge.hour) * HOUR_NANOS;
        let key =
            SegmentKey::new(self.tenant, Level::Compacted, hour_start, Ulid::new()).to_string();
        self.store.put(&key, bytes.clone(), PutMode::Create)?;
        let segment = CompactedSegment {
            key,
            hour: merge.hour,
            day: merge.day,
            hot_start: Some(encoded.hot_start),
            day_sums_start: encoded.day_sums_start,
            min_time,
            max_time,
            size: bytes.len() as u64,
        };
        Ok(Written {
            segment: Some((segment, data.samples.len())),
            quarantined,
        })
    }
}

/// What [`Pass::write_merge`] wrote: the segment and its sample rows (`None` when the readable
/// inputs held no samples), and the inputs set aside.
struct Written {
    segment: Option<(CompactedSegment, usize)>,
    quarantined: Vec<Quarantined>,
}
