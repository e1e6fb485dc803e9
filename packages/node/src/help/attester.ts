/**
 * Attestations (SPEC.md §attestation, §Content integrity): a helper signs, for each object it
 * serves for a site, the session, site, path and hash it serves, and sends the signature with
 * the body (`x-reef-attestation`), so an auditor can hold it to what it served. Signed once per
 * cached copy; the hit path returns the signature without awaiting.
 */
import type { PrivateKey } from '@libp2p/interface'
import { SequenceCounter, signRecord } from '@reef/protocol'
import type { CachedObject } from '../origin/content-cache.ts'

export class Attester {
  readonly #key: PrivateKey
  readonly #selfId: string
  readonly #seq = new SequenceCounter()
  readonly #pending = new WeakMap<CachedObject, Promise<string>>()
  readonly #signed = new WeakMap<CachedObject, string>()

  constructor(key: PrivateKey, selfId: string) {
    this.#key = key
    this.#selfId = selfId
  }

  /** The attestation header (base64url of the signed record) for `obj` served in `session`. */
  attest(session: string, obj: CachedObject): string | Promise<string> {
    const done = this.#signed.get(obj)
    if (done !== undefined) return done // the hit path: no await once signed
    let p = this.#pending.get(obj)
    if (p === undefined) {
      p = signRecord(
        this.#key,
        this.#selfId,
        'attestation',
        { session, site: obj.site, path: obj.path, sha256: obj.sha256 },
        { seq: this.#seq.next(), ts: obj.storedAt }
      ).then(bytes => {
        const header = Buffer.from(bytes).toString('base64url')
        this.#signed.set(obj, header)
        return header
      })
      this.#pending.set(obj, p)
    }
    return p
  }
}
