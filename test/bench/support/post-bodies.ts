// post.lua's traffic for load generators other than wrk: its request bodies, and a HAR file that
// makes autocannon send them.
import { writeFileSync } from 'node:fs'

/**
 * The 100 request bodies of test/bench/post.lua (the sink benchmark's wrk script), byte for byte:
 * order-like JSON documents of `size` bytes from the same Park-Miller generator and seed, so a
 * load generator other than wrk can send the same traffic (e.g. autocannon with a HAR file).
 */
export function postLuaBodies (count = 100, size = 2048): string[] {
  let seed = 20240611
  const rnd = (): number => {
    seed = (seed * 16807) % 2147483647
    return seed / 2147483647
  }
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1))
  const hex = (n: number): string => {
    let s = ''
    for (let i = 0; i < n; i++) s += Math.floor(rnd() * 16).toString(16)
    return s
  }
  const pad = (v: number, w: number): string => String(v).padStart(w, '0')
  const FIRST = ['Anna', 'Ben', 'Chloe', 'David', 'Elena', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas', 'Kemal', 'Lena', 'Marco', 'Nadia', 'Oskar', 'Priya']
  const LAST = ['Andersson', 'Becker', 'Costa', 'Dubois', 'Evans', 'Fischer', 'Garcia', 'Horvat', 'Ivanova', 'Jensen', 'Kowalski', 'Lambert', 'Moreau', 'Novak']
  const PRODUCTS = ['Merino Wool Sweater', 'Trail Running Shoe', 'Waterproof Shell Jacket', 'Organic Cotton T-Shirt', 'Insulated Water Bottle', 'Leather Card Holder', 'Wireless Earbuds', 'Mechanical Keyboard', 'Canvas Backpack 24L', 'USB-C Charging Hub']
  const COLORS = ['BLK', 'WHT', 'NVY', 'GRN', 'RED', 'GRY']
  const SIZES = ['XS', 'S', 'M', 'L', 'XL', 'OS']
  const CITIES = [['Berlin', 'DE', '10115'], ['Lyon', 'FR', '69002'], ['Milano', 'IT', '20121'], ['Austin', 'US', '78701'], ['Leeds', 'GB', 'LS1 4AP'], ['Porto', 'PT', '4050-262']]
  const STREETS = ['Hauptstrasse', 'Rue de la Republique', 'Via Torino', 'Congress Ave', 'Briggate', 'Rua das Flores']
  const WORDS = ['please', 'leave', 'parcel', 'with', 'neighbour', 'gift', 'wrap', 'no', 'invoice', 'in', 'box', 'deliver', 'after', '6pm', 'call', 'on', 'arrival', 'fragile', 'thanks', 'door', 'code']
  const CHANNELS = ['web', 'ios', 'android', 'pos']
  const makeBody = (): string => {
    // Every draw in the order Lua evaluates post.lua's string.format arguments (left to right).
    const first = pick(FIRST)
    const last = pick(LAST)
    const city = pick(CITIES)
    const orderId = pad(int(0, 999999999), 9)
    const channel = pick(CHANNELS)
    const date = `2024-${pad(int(1, 12), 2)}-${pad(int(1, 28), 2)}T${pad(int(0, 23), 2)}:${pad(int(0, 59), 2)}:${pad(int(0, 59), 2)}.000Z`
    const customerId = int(100000, 999999)
    const emailNo = int(0, 99)
    const optIn = rnd() < 0.4 ? 'true' : 'false'
    const method = pick(['standard', 'express', 'pickup'])
    const street = pick(STREETS)
    const houseNo = int(1, 180)
    const trace = hex(32)
    const head = `{"orderId":"ord-${orderId}","channel":"${channel}","createdAt":"${date}",` +
      `"customer":{"id":${customerId},"name":"${first} ${last}","email":"${first.toLowerCase()}.${last.toLowerCase()}${emailNo}@example.com","marketingOptIn":${optIn}},` +
      `"shipping":{"method":"${method}","address":{"line1":"${street} ${houseNo}","city":"${city[0]}","postalCode":"${city[2]}","country":"${city[1]}"}},` +
      `"trace":"${trace}","items":[`
    const items: string[] = []
    let len = head.length
    for (;;) {
      const sku = `SKU-${int(10000, 99999)}-${pick(COLORS)}-${pick(SIZES)}`
      const productId = int(1000, 9999)
      const product = pick(PRODUCTS)
      const quantity = int(1, 4)
      const price = `${int(5, 299)}.${pad(int(0, 99), 2)}`
      const inStock = rnd() < 0.9 ? 'true' : 'false'
      const item = `{"sku":"${sku}","productId":${productId},"name":"${product}","quantity":${quantity},"unitPrice":${price},"inStock":${inStock}}`
      if (len + item.length + 1 + 40 > size) break
      items.push(item)
      len += item.length + 1
    }
    let doc = head + items.join(',') + '],"notes":"'
    const tail = '"}'
    const room = size - doc.length - tail.length
    let notes = pick(WORDS)
    while (notes.length < room) notes += ' ' + pick(WORDS)
    doc += notes.slice(0, room) + tail
    if (doc.length !== size) throw new Error(`body is ${doc.length} bytes, wanted ${size}`)
    return doc
  }
  const bodies: string[] = []
  for (let i = 0; i < count; i++) bodies.push(makeBody())
  return bodies
}

/**
 * Writes a HAR file for `autocannon --har FILE URL`: one POST to `url` per body, with the headers
 * post.lua sends (Content-Type and Accept application/json, a User-Agent). autocannon sends the
 * entries in turn on every connection.
 */
export function writeBodiesHar (file: string, url: string, bodies: readonly string[], userAgent: string): void {
  const headers = [
    { name: 'Content-Type', value: 'application/json' },
    { name: 'Accept', value: 'application/json' },
    { name: 'User-Agent', value: userAgent }
  ]
  const entries = bodies.map(text => ({ request: { method: 'POST', url, headers, postData: { mimeType: 'application/json', text } } }))
  writeFileSync(file, JSON.stringify({ log: { version: '1.2', creator: { name: 'fastify-blackhole bench', version: '1' }, entries } }))
}
