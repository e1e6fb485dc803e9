/** `reef ledger`: the reciprocity ledger of a running node, per member or one member's records. */
import type { LedgerRecordsView, LedgerView } from '@reef/protocol'
import { UsageError } from '../errors.ts'
import { adminGet, resolveAdminUrl } from './admin-api.ts'
import type { Command } from './command.ts'
import { ADMIN_OPTION, CONFIG_OPTION, EXIT, flag, JSON_OPTION, stringOption } from './command.ts'
import { humanBytes, table } from './format.ts'

export const ledgerCommand: Command = {
  name: 'ledger',
  summary: 'the reciprocity ledger: per member given, taken, balance, quota, headroom',
  synopsis: 'ledger [--admin URL | --config FILE] [--records PEER] [--json]',
  description: `Ask a running node for its reciprocity ledger. Per member: bytes given (served for others),
taken (served by others for this member), the balance, the quota (credit) and the headroom left
under it; members over quota are marked. With --records, the signed delegations and receipts
behind one member's balance, which anyone can check.`,
  options: {
    admin: ADMIN_OPTION,
    config: CONFIG_OPTION,
    records: { type: 'string', value: 'PEER', description: "list the signed records behind PEER's balance (a peer id, 12D3KooW…)" },
    json: JSON_OPTION
  },
  examples: [
    'reef ledger --config /etc/reef/reef.jsonc',
    'reef ledger --admin http://127.0.0.1:9180 --json',
    'reef ledger --records 12D3KooWQm… --admin http://127.0.0.1:9180'
  ],
  async run(args, io) {
    const records = stringOption(args, 'records')
    if (records !== undefined && !/^[1-9A-HJ-NP-Za-km-z]{40,128}$/.test(records)) {
      throw new UsageError(`ledger: --records "${records}" is not a peer id`, {
        command: 'ledger',
        hint: 'copy a member\'s full peer id from "reef ledger --json"'
      })
    }
    const { url } = await resolveAdminUrl('ledger', args)
    if (records !== undefined) {
      const { data } = await adminGet(url, `/api/ledger/${records}/records`)
      if (flag(args, 'json')) {
        io.out(JSON.stringify(data, null, 2) + '\n')
        return EXIT.ok
      }
      const list = (data as LedgerRecordsView).records
      for (const r of list)
        io.out(
          `${r.type.padEnd(10)} ${r.hash.slice(0, 16)} by ${r.author.slice(-8)} session ${String(r.body.session)} round ${String(r.body.round)}: ${String(r.body.requests)} requests, ${humanBytes(Number(r.body.bytes))}\n`
        )
      io.out(`${list.length} records\n`)
      return EXIT.ok
    }
    const { data } = await adminGet(url, '/api/ledger')
    if (flag(args, 'json')) {
      io.out(JSON.stringify(data, null, 2) + '\n')
      return EXIT.ok
    }
    const view = data as LedgerView
    const rows = [['member', 'site', 'given', 'taken', 'balance', 'quota', 'headroom', '']]
    for (const m of view.members) {
      rows.push([
        m.peer === view.self ? `${m.peer.slice(-12)} (self)` : m.peer.slice(-12),
        m.site ?? '?',
        humanBytes(m.given),
        humanBytes(m.taken),
        humanBytes(m.balance),
        humanBytes(m.quota),
        humanBytes(m.headroom),
        m.overQuota ? 'OVER QUOTA' : ''
      ])
    }
    io.out(table(rows, new Set([2, 3, 4, 5, 6])))
    return EXIT.ok
  }
}
