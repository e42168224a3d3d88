/**
 * Three tessera processes on a 3-master Redis Cluster (REDIS_CLUSTER_NODES, or
 * the local one from scripts/redis-cluster.sh): see instances.ts. Keys live
 * under a per-run prefix, deleted afterwards.
 */
import { clusterNodes, deletePrefix, newCluster, skipUnlessAvailable, uniquePrefix } from '../stores/harness.js';
import { instancesSuite } from './instances.js';

const found = await clusterNodes();

instancesSuite({
  title: 'a Redis Cluster',
  skip: skipUnlessAvailable('error' in found ? found.error : undefined),
  store: async () => {
    if ('error' in found) throw new Error(found.error);
    const prefix = uniquePrefix('instances');
    return {
      spec: `redis+cluster://${found.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`,
      prefix,
      cleanup: async () => {
        const cluster = newCluster(found.nodes);
        try {
          // nodes('master') is empty until the client knows the slots.
          if (cluster.status !== 'ready') await new Promise((r) => cluster.once('ready', r));
          await deletePrefix(cluster, prefix);
        } finally {
          cluster.disconnect();
        }
      },
    };
  },
});
