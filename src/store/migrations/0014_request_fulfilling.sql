-- 0014: the fulfilling state (governance/requests.c): fulfilment claims an approved request
-- before its connector runs, and from then on it cannot be cancelled. A request being
-- fulfilled is still open, so the one-open-request rule of 0011 counts it too.

DROP INDEX requests_one_open;
CREATE UNIQUE INDEX requests_one_open ON requests (asset_id, beneficiary, action, privilege)
    WHERE state IN ('pending', 'approved', 'fulfilling');
