/**
 * Embeddings from a JSON file into Longbow, and back, from Node.
 *
 *   npm start                                   # a server on localhost:3000, in another terminal
 *   node --import tsx examples/embeddings.ts    # or: LONGBOW_URL=grpc://host:port node --import tsx ...
 *
 * embeddings.json is an array of {id, title, topic, embedding: number[8]}. Put as plain objects,
 * `embedding` becomes the vector column (FixedSizeList<float32>[8]) and `id` an int64 id.
 */
import { readFileSync } from 'node:fs';
import { Longbow } from '@longbow/client';

interface Article {
  id: number;
  title: string;
  topic: string;
  embedding: number[];
}

const url = process.env.LONGBOW_URL ?? 'grpc://localhost:3000';
const articles = JSON.parse(readFileSync(new URL('./embeddings.json', import.meta.url), 'utf8')) as Article[];

const lb = await Longbow.connect(url, { token: process.env.LONGBOW_TOKEN });
try {
  // A fresh start: drop what an earlier run left behind.
  if ((await lb.list({ nameContains: 'articles' })).some((dataset) => dataset.name === 'articles')) await lb.drop('articles');

  const put = await lb.put('articles', articles, { metric: 'cosine' });
  console.log(`stored ${put.rows} articles (dataset has ${put.datasetRows} rows)`);

  const info = await lb.info('articles');
  console.log(`vector column: ${info.vector?.column}, ${info.vector?.dimensions} dimensions, metric ${info.metric}`);

  // Back as an Arrow Table: filtered, two columns.
  const space = await lb.get('articles', { filters: { topic: 'space' }, columns: ['id', 'title'], limit: 3 });
  for (const row of space) console.log(`  #${row.id} ${row.title}`);

  // Or batch by batch, as they arrive, with the vectors as Float32Arrays.
  let rows = 0;
  let firstVector: Float32Array | undefined;
  for await (const batch of lb.get('articles')) {
    rows += batch.numRows;
    firstVector ??= batch.getChild('embedding')?.get(0)?.toArray() as Float32Array | undefined;
  }
  console.log(`read back ${rows} rows; first embedding starts ${Array.from(firstVector ?? []).slice(0, 3).map((x) => x.toFixed(4)).join(', ')}`);
} finally {
  lb.close();
}
