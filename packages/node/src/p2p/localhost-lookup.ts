/** Name lookup for the node's own HTTP clients (audits, mirror probes). */
import { lookup } from 'node:dns'
import type { LookupFunction } from 'node:net'

/** *.localhost names are loopback (RFC 6761 §6.3); anything else goes to the resolver. */
export const localhostLookup: LookupFunction = (hostname, options, callback) => {
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) {
    if (options.all === true)
      (callback as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address: '127.0.0.1', family: 4 }])
    else callback(null, '127.0.0.1', 4)
    return
  }
  lookup(hostname, options, callback)
}
