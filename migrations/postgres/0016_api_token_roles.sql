-- Personal API tokens scoped below their owner: a token may carry a role lower than
-- its owner's (empty: the owner's). An exchange mints the lower of the token's role
-- and the owner's role at that moment.

ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT '';
