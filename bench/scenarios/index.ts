// Every benchmark scenario, in report order.
import type { Scenario } from '../lib/report';
import { chatJson } from './chatJson';
import { bundleSize } from './bundleSize';
import { clientJoin } from './clientJoin';
import { durableAcks } from './durableAcks';
import { extensionHost } from './extensionHost';
import { fanout } from './fanout';
import { idleMemory } from './idleMemory';
import { manyRooms } from './manyRooms';
import { openVerify } from './openVerify';
import { pgStore } from './pgStore';
import { privateRooms } from './privateRooms';
import { relayCluster } from './relayCluster';
import { restart } from './restart';
import { panelFeatures } from '../panelFeatures';
import { privateCommit } from '../privateCommit';
import { privateSendRate } from '../privateSendRate';
import { privateFile } from '../privateFile';

export const SCENARIOS: Scenario[] = [fanout, durableAcks, manyRooms, idleMemory, restart, openVerify, clientJoin, chatJson, bundleSize, extensionHost, pgStore, relayCluster, privateRooms, privateSendRate, privateCommit, panelFeatures, privateFile];
