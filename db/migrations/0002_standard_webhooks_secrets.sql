-- Webhooks are signed per Standard Webhooks, whose libraries take the secret as `whsec_` + the
-- standard base64 of the HMAC key. Secrets issued before were `whsec_` + base64url text used
-- as a key by its own bytes, which those libraries cannot decode. Each is rewritten to the
-- Standard Webhooks secret of the same key: `whsec_` + base64(the old secret's UTF-8 bytes).
-- Every row here predates the change (new secrets are issued after this migration ran), so a
-- receiver keeps its old secret and verifies with it as a raw key (`format: "raw"`), or with
-- the rewritten form; the signatures are the same.
UPDATE "tenants" SET "webhook_secret" = 'whsec_' || translate(encode(convert_to("webhook_secret", 'UTF8'), 'base64'), E'\n', '');
