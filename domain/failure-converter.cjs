// The failure converter of every client and worker (and of the workflow bundle, by its path:
// usecases/payload-codec.ts FAILURE_CONVERTER_PATH). Temporal's default, with the message and
// stack trace of each failure moved into an encoded payload, so that the payload codec encrypts
// them too: a provider's refusal may quote an address ("The 'To' number +1… is not valid").
// Plain CommonJS: the SDK require()s it outside the bundle, and webpack bundles it inside.
const { DefaultFailureConverter } = require('@temporalio/common');

exports.failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
