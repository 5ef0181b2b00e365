-- Crowsnest inventory, version 7: the risk analyzers' findings (baseline, secrets, malware)
-- beside each stored inventory. A database update re-matches vulnerabilities only; keeping the
-- risks' counts and level here lets it compute the image's severity_level exactly (the worse of
-- the two) instead of guessing, and keeps the findings for the image's detail views.
-- scans.rs writes and reads it.

-- The findings (crowsnest_model::RiskFinding list) as zstd JSON in base64, '' when no risk
-- analyzer ran on this inventory.
ALTER TABLE stored_inventories ADD COLUMN risks TEXT NOT NULL DEFAULT '';
-- Which analyzers ran (comma-separated baseline, secret, malware), '' for none.
ALTER TABLE stored_inventories ADD COLUMN risk_scanners TEXT NOT NULL DEFAULT '';
-- crowsnest_model::RiskSummary of the risks alone: the APIs' HcCount / unsafe_setting_num,
-- malicious_file_num, AlarmCount, and the level the risks imply (Security when none).
ALTER TABLE stored_inventories ADD COLUMN baseline_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stored_inventories ADD COLUMN malicious_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stored_inventories ADD COLUMN alarm_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stored_inventories ADD COLUMN risk_level TEXT NOT NULL DEFAULT 'Security';
