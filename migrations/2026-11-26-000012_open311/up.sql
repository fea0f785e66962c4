-- Open311 facade: `GET /open311/v2/servicerequestupdates.json` lists every published reply
-- (interim and final) by publication time; `replies_final_published_idx` covers finals only.
CREATE INDEX replies_published_idx ON replies (published_at, id) WHERE status = 'published';
