/**
 * The phrase bank of the instruction world: topics, their names, good tips, dispreferred tips and
 * generic prose, plus the small stock of connecting phrases the prose generator uses. All of it is
 * written for this project, with a deliberately small and regular vocabulary so that a tiny model
 * can learn it in minutes.
 *
 * Rules the bank keeps (checked by the tests):
 * - every tip is one imperative sentence of at most 12 words that ends with a period;
 * - no tip starts with "Do not", "Never" or "Don't", so that "It helps to" + tip reads well;
 * - every sentence occurs once in the whole bank (a tip identifies its topic).
 *
 * @module
 */

/** One topic of the world. */
export interface Topic {
  /** Short identifier, e.g. "sleep". */
  id: string;
  /** How prose names the area in transitions ("When it comes to {field}, ..."). */
  field: string;
  /** Verb phrases for "How to {verb}", "List 3 ways to {verb}" ("sleep better"). */
  verbs: readonly string[];
  /** Noun phrases for "Tips for {noun}" ("better sleep"). */
  nouns: readonly string[];
  /** Good, actionable tips that follow every preference (imperative sentences). */
  good: readonly string[];
  /**
   * On-topic tips that break a preference: overwork, no rest, unsafe, extreme, or simply a worse
   * habit. A response containing one is on-topic but dispreferred.
   */
  bad: readonly string[];
  /** Generic statements about the topic, for pretraining prose (not tips). */
  prose: readonly string[];
}

/** The topics of the world. */
export const TOPICS: readonly Topic[] = [
  {
    id: "productivity",
    field: "work",
    verbs: ["be productive", "get more done", "manage my time"],
    nouns: ["productivity", "getting more done", "time management"],
    good: [
      "Write down the three most important tasks each morning.",
      "Work on your hardest task first.",
      "Break big tasks into small steps.",
      "Work in short blocks with a break after each one.",
      "Turn off phone alerts while you work.",
      "Keep a simple list of what you need to do.",
      "Plan tomorrow before you finish work today.",
      "Do one task at a time.",
      "Take a short walk to clear your head.",
      "Set a clear end time for your work day.",
      "Group small tasks and do them together.",
      "Say no to tasks that do not fit your goals.",
      "Keep your desk clear of things you do not need.",
      "Check your messages only a few times a day.",
      "Rest well so you can focus the next day.",
    ],
    bad: [
      "Skip sleep to work through the night.",
      "Work every weekend without a day off.",
      "Say yes to every task you are given.",
      "Drink coffee all day to keep going.",
      "Skip lunch to finish more tasks.",
      "Check your messages every few minutes.",
      "Work twelve hours a day until the job is done.",
    ],
    prose: [
      "Getting more done is less about working longer and more about working well.",
      "Most people have only a few hours of deep focus each day.",
      "A busy day can feel productive even when little gets done.",
      "Good habits make hard work feel lighter.",
      "Time is easy to lose and hard to win back.",
    ],
  },
  {
    id: "sleep",
    field: "sleep",
    verbs: ["sleep better", "get better sleep", "fall asleep faster"],
    nouns: ["better sleep", "sleep", "good rest"],
    good: [
      "Go to bed at the same time each night.",
      "Wake up at the same time every day.",
      "Keep your bedroom cool, dark and quiet.",
      "Avoid screens for an hour before bed.",
      "Avoid coffee after lunch.",
      "Get some sunlight early in the day.",
      "Keep naps short and early in the day.",
      "Read a calm book before bed.",
      "Use your bed only for sleep.",
      "Eat your last big meal a few hours before bed.",
      "Write down your worries before you go to bed.",
      "Get out of bed if you cannot sleep after a while.",
      "Take a warm shower in the evening.",
      "Aim for seven to nine hours of sleep.",
    ],
    bad: [
      "Stay up late on your phone until you feel tired.",
      "Drink coffee late at night to finish your work.",
      "Sleep four hours and catch up on the weekend.",
      "Take strong sleeping pills every night without a doctor.",
      "Work in bed until you fall asleep.",
      "Keep the TV on all night.",
    ],
    prose: [
      "Sleep is one of the simplest ways to feel better during the day.",
      "A good night of rest helps both the mind and the body.",
      "Most adults need seven to nine hours of sleep.",
      "Poor sleep makes it hard to focus and easy to feel stressed.",
      "The body likes a steady rhythm of rest and waking.",
    ],
  },
  {
    id: "study",
    field: "study",
    verbs: ["study better", "learn faster", "study for a test"],
    nouns: ["studying", "better study habits", "test prep"],
    good: [
      "Study in short sessions spread over several days.",
      "Test yourself instead of just reading your notes.",
      "Explain what you learned in your own words.",
      "Study in a quiet place with your phone away.",
      "Start with the topics you find hardest.",
      "Review your notes on the same day as the class.",
      "Make a simple plan for each week of study.",
      "Take a short break every half hour.",
      "Teach the idea to a friend.",
      "Write short notes by hand.",
      "Practice with old test questions.",
      "Sleep well the night before a test.",
      "Ask for help as soon as you get stuck.",
      "Set a clear goal for each study session.",
    ],
    bad: [
      "Study all night before the test.",
      "Cram everything on the last day.",
      "Skip meals to study longer.",
      "Study for ten hours without a break.",
      "Read your notes again and again without testing yourself.",
      "Drink energy drinks to stay awake and study.",
    ],
    prose: [
      "Learning works best when it is spread out over time.",
      "The mind holds on to ideas it has to work to recall.",
      "Good study habits matter more than long hours.",
      "Many students read their notes many times but remember little.",
      "A rested mind learns faster than a tired one.",
    ],
  },
  {
    id: "cooking",
    field: "cooking",
    verbs: ["cook at home", "cook better", "eat well at home"],
    nouns: ["home cooking", "cooking", "healthy meals"],
    good: [
      "Plan your meals for the week on Sunday.",
      "Cook a big pot of food and save some for later.",
      "Keep simple foods like rice, beans and eggs at home.",
      "Wash your hands before you cook.",
      "Use a clean board for raw meat.",
      "Add more vegetables to every meal.",
      "Taste your food as you cook.",
      "Learn a few easy recipes well.",
      "Cook with fresh food when you can.",
      "Keep your knives sharp and store them safely.",
      "Clean as you go while you cook.",
      "Use herbs and lemon instead of lots of salt.",
      "Cool leftovers fast and keep them in the fridge.",
      "Cook with a friend to make it more fun.",
    ],
    bad: [
      "Leave the stove on while you go out.",
      "Eat fast food every day to save time.",
      "Add lots of salt to every meal.",
      "Use the same board for raw meat and salad without washing it.",
      "Leave cooked food out all night.",
      "Cook with oil on high heat and walk away.",
    ],
    prose: [
      "Cooking at home is one of the easiest ways to eat well.",
      "A simple meal made at home is often cheaper and healthier.",
      "Many people think cooking takes too long, but easy meals can be quick.",
      "Good food does not need to be fancy.",
      "The kitchen is a place where small habits keep you safe.",
    ],
  },
  {
    id: "exercise",
    field: "exercise",
    verbs: ["get fit", "exercise more", "stay active"],
    nouns: ["exercise", "fitness", "staying active"],
    good: [
      "Start with a short walk every day.",
      "Warm up for five minutes before you exercise.",
      "Pick an activity you enjoy.",
      "Add a little more each week.",
      "Take at least one rest day each week.",
      "Drink water before and after exercise.",
      "Stretch after your workout.",
      "Take the stairs instead of the lift.",
      "Find a friend to exercise with.",
      "Mix strength work with walking or running.",
      "Stop and rest if you feel sharp pain.",
      "Set a small goal you can reach in a month.",
      "Use good form before you add more weight.",
      "Sleep well so your body can recover.",
    ],
    bad: [
      "Run as hard as you can every day without rest days.",
      "Skip the warm up to save time.",
      "Push through sharp pain.",
      "Lift the heaviest weight you can on the first day.",
      "Exercise for three hours a day from the start.",
      "Skip water during long workouts.",
    ],
    prose: [
      "The body grows stronger when work is followed by rest.",
      "A little movement every day is better than a lot once a month.",
      "Many people start with big plans and stop after a week.",
      "Exercise helps the heart, the mind and sleep.",
      "Fitness is built slowly over months, not days.",
    ],
  },
  {
    id: "money",
    field: "money",
    verbs: ["save money", "spend less", "manage my money"],
    nouns: ["saving money", "budgeting", "money"],
    good: [
      "Write down everything you spend for a month.",
      "Set up a simple budget each month.",
      "Save a small part of every paycheck first.",
      "Keep an emergency fund for hard times.",
      "Bring lunch from home instead of buying it.",
      "Wait a day before you buy something big.",
      "Pay off cards with high interest first.",
      "Cancel subscriptions you do not use.",
      "Compare prices before you buy.",
      "Make a shopping list and stick to it.",
      "Set a clear goal for what you save for.",
      "Check your bank account every week.",
      "Buy used items when you can.",
      "Pay your bills on time.",
    ],
    bad: [
      "Put all your savings into one risky bet.",
      "Use a credit card for everything you want.",
      "Borrow money to buy things you do not need.",
      "Spend your whole paycheck the day it arrives.",
      "Ignore your bills until they go away.",
      "Buy things on sale even if you do not need them.",
    ],
    prose: [
      "Money is easier to manage when you know where it goes.",
      "Small costs add up over a month.",
      "Saving is a habit more than a matter of income.",
      "Many people spend more when they feel tired or stressed.",
      "A little saved each week grows over time.",
    ],
  },
  {
    id: "stress",
    field: "stress",
    verbs: ["reduce stress", "feel calm", "relax"],
    nouns: ["stress", "a calm mind", "less stress"],
    good: [
      "Take slow, deep breaths for a few minutes.",
      "Go for a walk outside.",
      "Talk to a friend about how you feel.",
      "Write down what is on your mind.",
      "Take short breaks during the day.",
      "Spend less time on the news and social media.",
      "Sleep and eat at regular times.",
      "Focus on what you can control.",
      "Make time for a hobby you enjoy.",
      "Say no when you already have too much to do.",
      "Spend a few minutes in quiet each morning.",
      "Move your body every day.",
      "Ask for help when you need it.",
      "Keep a short list of things you are thankful for.",
    ],
    bad: [
      "Keep all your worries to yourself.",
      "Work longer hours until the stress goes away.",
      "Drink alcohol every night to relax.",
      "Ignore how you feel and keep pushing.",
      "Stay busy every minute so you have no time to worry.",
      "Check the news every hour.",
    ],
    prose: [
      "Stress is a normal part of life, but too much of it wears you down.",
      "A calm mind makes better choices.",
      "The body often feels stress before the mind notices it.",
      "Short moments of rest can change how a whole day feels.",
      "Many people carry stress for weeks before they make a change.",
    ],
  },
  {
    id: "cleaning",
    field: "the home",
    verbs: ["keep a clean home", "clean the house", "keep my room tidy"],
    nouns: ["a clean home", "cleaning", "a tidy room"],
    good: [
      "Make your bed every morning.",
      "Put things back where they belong.",
      "Clean for ten minutes each day.",
      "Wash the dishes after each meal.",
      "Give every item a home.",
      "Clean one room at a time.",
      "Keep a basket for things to give away.",
      "Open the windows to let in fresh air.",
      "Wipe the kitchen after you cook.",
      "Do a little laundry often instead of a lot at once.",
      "Clean from top to bottom.",
      "Read the label before you use a cleaner.",
      "Share the work with everyone who lives with you.",
      "Take out the trash before it is full.",
    ],
    bad: [
      "Mix strong cleaners to make them work faster.",
      "Clean the whole house in one long day without a break.",
      "Hide the mess in one closet.",
      "Leave the dishes until you run out of plates.",
      "Use strong cleaners in a room with no fresh air.",
      "Do all the cleaning yourself even when you are tired.",
    ],
    prose: [
      "A tidy home can make the mind feel calmer.",
      "Clutter builds up slowly, one small thing at a time.",
      "Most cleaning is easier when it is done a little at a time.",
      "A clean kitchen is also a safer kitchen.",
      "Many people feel better after a quick tidy.",
    ],
  },
  {
    id: "friends",
    field: "friendship",
    verbs: ["make friends", "be a good friend", "stay close to friends"],
    nouns: ["friendship", "making friends", "a good friendship"],
    good: [
      "Ask people questions and listen to the answers.",
      "Join a club or class about something you enjoy.",
      "Reach out to an old friend this week.",
      "Remember small details about people.",
      "Say thank you when a friend helps you.",
      "Make plans and follow through on them.",
      "Be honest and kind.",
      "Show up when a friend needs help.",
      "Share a meal with a friend.",
      "Send a short message to check in.",
      "Be patient, since close friends take time.",
      "Invite a friend for a walk.",
      "Be happy for your friends when things go well.",
      "Keep in touch with friends who live far away.",
    ],
    bad: [
      "Cancel plans with friends to work late.",
      "Only talk about yourself.",
      "Reach out only when you need something.",
      "Agree to everything to keep people happy.",
      "Tell others what a friend told you in secret.",
      "Say yes to every plan even when you are worn out.",
    ],
    prose: [
      "Friendships grow from many small moments.",
      "Adults often find it harder to make new friends.",
      "Good friends make hard times easier.",
      "Time with friends is good for the mind and the body.",
      "A friendship needs care from both sides.",
    ],
  },
];

/** Openers that turn a good imperative tip into prose: `${opener} ${tip in lower case}`. */
export const GOOD_OPENERS: readonly string[] = [
  "Many people find it helps to",
  "It is a good idea to",
  "One simple habit is to",
  "A small step is to",
  "It can help to",
  "Experts often suggest that you",
  "Another good habit is to",
  "It also helps to",
  "You might try to",
  "A good place to start is to",
];

/**
 * Frames that mention a dispreferred tip as something to avoid. `{tip}` is the tip in lower case;
 * `{they}` is the tip in the third person plural ("skip sleep" / "stay up late on their phone").
 */
export const WARNING_FRAMES: readonly string[] = [
  "Some people {they}, but this often does more harm than good.",
  "It may be tempting to {tip}, but it rarely helps for long.",
  "It is a bad idea to {tip}.",
  "Some people {they}, and they often pay for it later.",
  "Try to resist the urge to {tip}.",
];

/** Frames that join two good tips in the third person plural: `{a}` and `{b}`. */
export const PAIR_FRAMES: readonly string[] = [
  "Some people {a}, while others {b}.",
  "Many people {a}, and some also {b}.",
];

/** Sentences that close a paragraph, on any topic. */
export const CLOSERS: readonly string[] = [
  "Small changes like these add up over time.",
  "The key is to start small and stay steady.",
  "None of this has to happen all at once.",
  "Pick one idea and try it for a week.",
  "A steady pace works better than a big push.",
  "What matters most is a habit you can keep.",
];

/** Transitions to a second topic: `{field}` is the topic's field. */
export const TRANSITIONS: readonly string[] = [
  "When it comes to {field}, the same ideas apply.",
  "The same is true for {field}.",
  "It is much the same with {field}.",
];
