-- 0011: exactly once, by the database and not by luck, however many replicas write: one open
-- (pending or approved) request per person, asset and access, so two identical requests racing
-- through two replicas cannot both be stored; and one snowgate request per ServiceNow record.
-- (Webhook events are unique by their webhook-id, jobs by their dedup_key, since 0002/0005.)

CREATE UNIQUE INDEX requests_one_open ON requests (asset_id, beneficiary, action, privilege)
    WHERE state IN ('pending', 'approved');
CREATE UNIQUE INDEX requests_sn_record ON requests (sn_sys_id) WHERE sn_sys_id IS NOT NULL;
