// An independent verifier of Probidad's Open Badges: Digital Bazaar's VC libraries, offline.
//
//   node verify.mjs cases.json
//
// cases.json: {"documents": {url: document, ...}, "credentials": {name: credential, ...}}. `documents`
// are what the verifier may fetch (the status lists); JSON-LD contexts come from ./contexts, did:key
// documents are resolved locally. Prints {name: {verified, revoked, error}, ...}: `verified` is the
// library's verdict on the proof (and that the status list could be checked), `revoked` the credential's
// revocation bit (null when there was no status to check).
import {readFile} from 'node:fs/promises';
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {createVerifyCryptosuite} from '@digitalbazaar/eddsa-jcs-2022-cryptosuite';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import * as DidKey from '@digitalbazaar/did-method-key';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';

const here = new URL('.', import.meta.url);
const contexts = {
  'https://www.w3.org/ns/credentials/v2': 'contexts/credentials-v2.jsonld',
  'https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json': 'contexts/ob-v3p0-context-3.0.3.json',
};

const didKey = DidKey.driver();
didKey.use({multibaseMultikeyHeader: 'z6Mk', fromMultibase: Ed25519Multikey.from});

function loaderFor(documents) {
  return async url => {
    if(url.startsWith('did:key:')) {
      return {contextUrl: null, documentUrl: url, document: await didKey.get({url})};
    }
    if(contexts[url]) {
      const document = JSON.parse(await readFile(new URL(contexts[url], here), 'utf8'));
      return {contextUrl: null, documentUrl: url, document};
    }
    if(documents[url]) {
      return {contextUrl: null, documentUrl: url, document: documents[url]};
    }
    throw new Error(`offline: no document for ${url}`);
  };
}

const {documents = {}, credentials} = JSON.parse(await readFile(process.argv[2], 'utf8'));
const documentLoader = loaderFor(documents);
const suite = new DataIntegrityProof({cryptosuite: createVerifyCryptosuite()});
const out = {};
for(const [name, credential] of Object.entries(credentials)) {
  try {
    const result = await vc.verifyCredential({credential, suite, documentLoader, checkStatus});
    const statuses = result.statusResult?.results ?? [];
    const errors = [result.error, ...(result.results ?? []).map(r => r.error)].filter(Boolean);
    out[name] = {
      verified: result.verified === true,
      revoked: statuses.length ? statuses.some(s => s.status === true) : null,
      error: errors.map(e => (e.errors ?? [e]).map(x => x.message).join('; ')).join('; ') || null,
    };
  } catch(e) {
    out[name] = {verified: false, revoked: null, error: String(e?.message ?? e)};
  }
}
process.stdout.write(JSON.stringify(out) + '\n');
