/**
 * Nearest-neighbour search over the articles of embeddings.ts (run that first).
 *
 *   node --import tsx examples/search.ts
 *
 * Uses an article's own embedding as the query: the article itself comes first, then its
 * nearest neighbours, which share its topic. Then several queries at once with searchMany.
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
  await lb.waitUntilReady('articles');
  const query = articles[0];
  const hits = await lb.search('articles', query.embedding, { k: 4, columns: ['title', 'topic'] });
  console.log(`nearest to "${query.title}":`);
  for (const hit of hits) console.log(`  #${hit.id} ${hit.title} (${hit.topic}), distance ${Math.max(0, Number(hit.distance)).toFixed(4)}`);

  const queries = [articles[8], articles[16]];
  const results = await lb.searchMany('articles', queries.map((article) => article.embedding), { k: 3 });
  results.forEach((table, index) => {
    const ids = Array.from(table.getChild('id')!.toArray() as BigInt64Array, Number);
    console.log(`nearest to #${queries[index].id}: ${ids.map((id) => `#${id}`).join(', ')}`);
  });
} finally {
  lb.close();
}
